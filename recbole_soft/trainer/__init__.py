"""RecBole Trainer subclasses of the plugin, one per objective (as Hugging Face TRL has one trainer per objective):

- ``llm_trainer.LLMTrainer``: supervised LoRA fine-tuning (BIGRec, and stage 1 of the staged methods);
- ``icl_trainer.ICLTrainer``: no training (ICL);
- ``staged_trainer.StagedTrainer``: SFT, then further stages on the same samples;
- ``soft_trainer.SOFTTrainer``: SFT, self-distillation (``distillation``), curriculum (``curriculum``);
- ``dmpo_trainer.DMPOTrainer``: SFT, negatives and reference log-probabilities, preference optimisation.

Which trainer a model uses is declared in ``recbole_soft.registry``. Resume state and adapter checkpoints are in
``checkpoint``; what every LLM evaluation adds (the answers' spread, the priors' γ) is in ``evaluation``, which
model measures DMPO's pairwise AUC on a run's test rows (every model, classical ones too) in ``pairwise_auc``.
"""
