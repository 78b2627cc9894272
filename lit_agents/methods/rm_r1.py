"""RM-R1 stage 1: reasoning-trace distillation (SFT on ``y_trace = r ⊕ l``) with pairwise evaluation.

Training is the shared :class:`~lit_agents.methods.sft.SFTModule` (NLL on the trace tokens given the CoR
prompt); validation/test judge preference pairs in both A/B orders (:class:`PairwiseEvalMixin`). With
``export_dir`` the trained policy is saved as a transformers directory at the end of fit, which stage 2 loads
with ``backbone.name_or_path`` (LoRA adapters are merged into a copy first).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass

from lit_agents.backbone import BackboneConfig
from lit_agents.evaluation.pairwise import PairwiseEvalMixin
from lit_agents.export import full_state_dict, save_hf, strip_prefix
from lit_agents.methods.sft import SFTModule
from lit_agents.training.backbone_module import Schedule

log = logging.getLogger(__name__)


class RMR1DistillModule(PairwiseEvalMixin, SFTModule):
    """SFT on distilled CoR traces; validation = pairwise judge accuracy (both orders, position bias).

    Args:
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        max_length: tokens of prompt + trace kept.
        packing: pack several examples per row.
        apply_chat_template: render prompts with the tokenizer's chat template.
        eval_max_new_tokens: tokens generated per judgement in evaluation.
        eval_batch_size: prompts per evaluation generation call.
        export_dir: write the trained model and tokenizer here at the end of fit (``save_pretrained``).
    """

    def __init__(self, backbone: BackboneConfig, learning_rate: float = 5e-6, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "cosine", max_length: int = 4096,
                 packing: bool = False, apply_chat_template: bool = True, eval_max_new_tokens: int = 512,
                 eval_batch_size: int = 8, export_dir: str | None = None):
        super().__init__(backbone, learning_rate=learning_rate, weight_decay=weight_decay, warmup_steps=warmup_steps,
                         scheduler=scheduler, max_length=max_length, packing=packing,
                         apply_chat_template=apply_chat_template, num_val_samples=0)
        self.save_hyperparameters()
        # plain values only, so checkpoints load with torch.load(weights_only=True)
        self.hparams["backbone"] = asdict(backbone) if is_dataclass(backbone) else backbone
        self.eval_max_new_tokens, self.eval_batch_size = eval_max_new_tokens, eval_batch_size
        self.export_dir = export_dir

    def on_train_end(self) -> None:
        """Export the trained policy; under FSDP the full weights are gathered first (on every rank, kept on
        rank 0) and loaded into a fresh copy of the backbone, since the wrapped model holds only shards."""
        if self.export_dir is None:
            return
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        model = self.model
        if isinstance(getattr(self.trainer.strategy, "model", None), FSDP):
            state = full_state_dict(self)  # a collective: every rank takes part
            if not self.trainer.is_global_zero:
                return
            model, _ = self.backbone_config.build()  # the same task inference as the module's own build
            model.load_state_dict(strip_prefix(state, "model."))
        elif not self.trainer.is_global_zero:
            return
        out = save_hf(model, self.tokenizer, self.export_dir)
        log.info("RM-R1 stage 1: policy exported to %s (stage 2: backbone.name_or_path=%s)", out, out)
