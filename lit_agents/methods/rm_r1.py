"""RM-R1 stage 1: reasoning-trace distillation (SFT on ``y_trace = r ⊕ l``) with pairwise evaluation.

Training is the shared :class:`~lit_agents.methods.sft.SFTModule` (NLL on the trace tokens given the CoR
prompt); validation/test judge preference pairs in both A/B orders (:class:`PairwiseEvalMixin`). With
``export_dir`` the trained policy is saved as a transformers directory at the end of fit, which stage 2 loads
with ``backbone.name_or_path`` (LoRA adapters are merged into a copy first).
"""
from __future__ import annotations

from lit_agents.backbone import BackboneConfig
from lit_agents.evaluation.pairwise import PairwiseEvalMixin
from lit_agents.losses.sft_objectives import Objective
from lit_agents.methods.sft import SFTModule
from lit_agents.training.backbone_module import Schedule


class RMR1DistillModule(PairwiseEvalMixin, SFTModule):
    """SFT on distilled CoR traces; validation = pairwise judge accuracy (both orders, position bias).

    Args:
        backbone: the reward-model policy (paper: Qwen2.5-Instruct 7B/14B/32B, full fine-tuning).
        learning_rate: AdamW learning rate of the trace SFT (released recipe: 5e-6).
        weight_decay: AdamW weight decay of the trace SFT.
        warmup_steps: linear warm-up steps before the schedule.
        scheduler: learning-rate decay after warm-up: ``constant``, ``linear`` or ``cosine`` (the default).
        max_length: tokens of rubric prompt + reasoning trace + verdict kept (paper: prompt ≤ 4096 + response
            ≤ 8192).
        packing: several traces per row (decoder-only policies only; the released distillation packs).
        apply_chat_template: render the CoR conversation with the policy's chat template.
        num_val_samples: validation prompts whose generations are logged as a table (off: the pairwise judge
            accuracy is the validation).
        val_max_new_tokens: tokens generated per logged validation sample.
        objective: token loss of the trace SFT (see :class:`~lit_agents.methods.sft.SFTModule`; ``nll`` as in
            the paper).
        objective_alpha: the ``general_family`` exponent α.
        objective_threshold: the probability threshold q of the thresholded objectives.
        eval_max_new_tokens: tokens generated per judgement in evaluation.
        eval_batch_size: prompts per evaluation generation call.
        export_dir: write the trained model and tokenizer here at the end of fit (``save_pretrained``).
    """

    def __init__(self, backbone: BackboneConfig, learning_rate: float = 5e-6, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "cosine", max_length: int = 4096,
                 packing: bool = False, apply_chat_template: bool = True, eval_max_new_tokens: int = 512,
                 eval_batch_size: int = 8, export_dir: str | None = None, num_val_samples: int = 0,
                 val_max_new_tokens: int = 64, objective: Objective = "nll", objective_alpha: float = 1.0,
                 objective_threshold: float = 0.5):
        super().__init__(backbone, learning_rate=learning_rate, weight_decay=weight_decay, warmup_steps=warmup_steps,
                         scheduler=scheduler, max_length=max_length, packing=packing,
                         apply_chat_template=apply_chat_template, num_val_samples=num_val_samples,
                         val_max_new_tokens=val_max_new_tokens, objective=objective,
                         objective_alpha=objective_alpha, objective_threshold=objective_threshold,
                         export_dir=export_dir)
        self.save_plain_hyperparameters()
