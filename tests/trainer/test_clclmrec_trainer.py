"""CLCLMRec's two phases: instruction tuning, then recommendation tuning on few samples chosen by a contrastive
encoder, with augmented views."""
import pytest
import torch

from recbole_soft.trainer.clclmrec_trainer import CLCLMRecTrainer


def clclmrec(build, trained_checkpoint, **overrides):
    settings = {"item_encoder_checkpoint": trained_checkpoint("CL4SRec"), "clclm_sample_num": 6,
                "clclm_instruction_num": 8, **overrides}
    config, train_data, valid_data, _, model = build("CLCLMRec", **settings)
    return CLCLMRecTrainer(config, model), train_data, valid_data


def test_both_phases_train_one_adapter_on_the_chosen_samples_and_their_views(build, trained_checkpoint):
    trainer, train_data, valid_data = clclmrec(build, trained_checkpoint)
    trainer.fit(train_data, valid_data)
    assert list(trainer.run_info["stage_times_s"]) == ["instructions", "recommendation"]
    assert trainer.run_info["selection"] == {"method": "contrastive", "samples": 6, "augmented": 6}
    assert [row["stage"] for row in trainer.learning_curve] == ["instructions", "recommendation"]
    assert (trainer.instruction_adapter_dir / "adapter_config.json").is_file()
    chosen = trainer.training_samples(train_data)._dataset.inter_feat
    originals, views = chosen[torch.arange(6)], chosen[torch.arange(6, 12)]
    assert torch.equal(originals["item_id"], views["item_id"])  # a view keeps its sample's target
    for original, length, view, view_length in zip(originals["item_id_list"], originals["item_length"],
                                                  views["item_id_list"], views["item_length"]):
        assert set(view[:view_length].tolist()) <= set(original[:length].tolist())


def test_the_choice_of_samples_is_the_same_for_the_same_seed_and_the_ablations_change_it(build, trained_checkpoint):
    def chosen(**overrides):
        trainer, train_data, _ = clclmrec(build, trained_checkpoint, **overrides)
        return trainer.training_samples(train_data)._dataset.inter_feat, trainer.run_info["selection"]

    (first, _), (second, _) = chosen(), chosen()
    assert torch.equal(first["item_id_list"], second["item_id_list"])
    rows, selection = chosen(clclm_selection="random", clclm_augmented_views=0)
    assert selection == {"method": "random", "samples": 6, "augmented": 0} and len(rows) == 6


def test_clclmrec_needs_the_hybrid_representation(build, trained_checkpoint):
    from recbole_soft.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match="item_representation=hybrid"):
        build("CLCLMRec", item_encoder_checkpoint=trained_checkpoint("CL4SRec"), item_representation="text")
