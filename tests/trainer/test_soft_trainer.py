import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from recbole_soft import run_recbole_soft


@pytest.fixture
def soft_config(llm_config):
    return {**llm_config, "curriculum_epochs": 2, "curriculum_probe_num": 6, "max_new_tokens": 6}


def _sft_adapter(result) -> Path:
    final = Path(result["result_file"]).with_suffix("").with_suffix("")
    return final.with_name(final.name + "-sft")


def _distilled(result) -> list[dict]:
    return [json.loads(line) for line in Path(result["distillation"]["file"]).read_text().splitlines()]


def test_the_three_stages_run_in_order_and_write_the_curve(soft_config):
    result = run_recbole_soft("SOFT", "tiny", config_dict=soft_config)
    assert list(result["stage_times_s"]) == ["sft", "distill", "curriculum"]
    curve = result["curriculum_curve"]
    assert [row["epoch"] for row in curve] == [0, 1, 2]
    assert curve[1]["lambda"] == 1.0  # epoch 1 of the adaptive schedule: d_0 / d_0
    assert all(row["distance"] > 0 for row in curve)
    assert {"ce_real", "ce_distilled", "valid_score"} <= set(curve[1])
    csv_file, png_file = map(Path, result["curriculum_files"])
    assert csv_file.read_text().splitlines()[0] == "epoch,lambda,distance,ce_real,ce_distilled,valid_score"
    assert png_file.read_bytes()[:4] == b"\x89PNG"
    assert _sft_adapter(result).is_dir() and {"hit@10", "ndcg@10"} <= set(result["test_result"])


def test_loading_bigrecs_adapter_as_the_sft_stage_gives_the_result_of_training_the_stage(soft_config):
    """What lets a suite's SOFT and DMPO rows load the BIGRec row's adapter instead of training stage 1 again."""
    settings = {**soft_config, "curriculum_epochs": 1}
    bigrec = run_recbole_soft("BIGRec", "tiny", config_dict=settings)
    bigrec_adapter = Path(bigrec["result_file"]).with_suffix("").with_suffix("")
    trained = run_recbole_soft("SOFT", "tiny", config_dict=settings)
    loaded = run_recbole_soft("SOFT", "tiny", config_dict={**settings, "sft_adapter_path": str(bigrec_adapter)})
    sft, bigrec_weights = (load_file(folder / "adapter_model.safetensors")
                           for folder in (_sft_adapter(trained), bigrec_adapter))
    assert sft.keys() == bigrec_weights.keys() and all(torch.equal(sft[name], bigrec_weights[name]) for name in sft)
    assert loaded["test_result"] == trained["test_result"] and loaded["curriculum_curve"] == trained["curriculum_curve"]


def test_distilled_targets_are_the_sft_models_own_answers_to_its_training_prompts(soft_config, build):
    result = run_recbole_soft("SOFT", "tiny", config_dict=soft_config)
    records = _distilled(result)
    assert len(records) == soft_config["train_sample_num"]
    *_, model = build("SOFT", **soft_config)
    model.load_adapter(_sft_adapter(result))
    model.eval()
    prompts = [record["prompt"] for record in records]
    assert model.generate(prompts, num_beams=1, constrained=False) == [record["distilled"] for record in records]
    assert {record["target"] for record in records} <= set(model.titles)


def test_the_distilled_set_is_reused_for_the_same_adapter_and_rebuilt_for_another(soft_config, tmp_path):
    settings = {**soft_config, "distill_dir": str(tmp_path / "distilled"), "curriculum_epochs": 1}
    first = run_recbole_soft("SOFT", "tiny", config_dict=settings)
    cached = Path(first["distillation"]["file"])
    stamp = cached.stat().st_mtime_ns

    reused = run_recbole_soft("SOFT", "tiny", config_dict={**settings, "sft_adapter_path": str(_sft_adapter(first))})
    assert not first["distillation"]["reused"] and reused["distillation"]["reused"]
    assert Path(reused["distillation"]["file"]) == cached and cached.stat().st_mtime_ns == stamp
    assert list(cached.parent.glob("*.jsonl")) == [cached]

    changed = tmp_path / "changed-adapter"
    changed.mkdir()
    (changed / "adapter_config.json").write_text((_sft_adapter(first) / "adapter_config.json").read_text())
    weights = load_file(_sft_adapter(first) / "adapter_model.safetensors")
    save_file({name: tensor + 0.5 for name, tensor in weights.items()}, changed / "adapter_model.safetensors")
    rebuilt = run_recbole_soft("SOFT", "tiny", config_dict={**settings, "sft_adapter_path": str(changed)})
    assert Path(rebuilt["distillation"]["file"]) != cached and cached.is_file()


def test_without_self_adaptation_every_epoch_trains_on_distilled_targets_only(soft_config):
    result = run_recbole_soft("SOFT", "tiny", config_dict={**soft_config, "curriculum": "none"})
    assert [row["lambda"] for row in result["curriculum_curve"][1:]] == [1.0, 1.0]


def test_an_sft_adapter_from_another_base_model_is_refused(soft_config, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/models/other-llm"}))
    save_file({"x": torch.zeros(1)}, foreign / "adapter_model.safetensors")
    with pytest.raises(ValueError, match=r"trained on another base LLM \(/models/other-llm\).*Use the same llm_path"):
        run_recbole_soft("SOFT", "tiny", config_dict={**soft_config, "sft_adapter_path": str(foreign)})


def test_the_probe_embeds_raw_beam_answers_and_d0_comes_from_the_base_model(soft_config, build, monkeypatch):
    from peft.tuners.lora import LoraLayer

    from recbole_soft.data import seeded_rows
    from recbole_soft.trainer.soft_trainer import SOFTTrainer

    config, train_data, *_, model = build("SOFT", **soft_config, curriculum_probe_beams=3)
    trainer = SOFTTrainer(config, model)
    trainer._probe = seeded_rows(train_data._dataset, 4, config["seed"])
    calls = []
    generate = model.generate

    def recorded(prompts, num_beams=None, constrained=True, show_progress=False):
        adapters_off = all(module.disable_adapters for module in model.llm.modules() if isinstance(module, LoraLayer))
        calls.append((num_beams, constrained, adapters_off))
        return generate(prompts, num_beams, constrained, show_progress)

    monkeypatch.setattr(model, "generate", recorded)
    trainer._probe_distance(base_model=True)
    trainer._probe_distance()
    assert calls == [(3, False, True), (3, False, False)]
