"""A scalar reward model (the baseline RM-R1 is compared against): a sequence-classification head on a
language-model backbone, trained with the Bradley–Terry loss on preference pairs.

The reward of ``(conversation, response)`` is a linear head on the final hidden state of the last token of the
rendered dialogue (as transformers' ``*ForSequenceClassification`` heads and TRL's ``RewardTrainer`` do).
Loss: ``−log σ(r(x, y_chosen) − r(x, y_rejected))`` (Bradley & Terry 1952; Ouyang et al. 2022).
On the benchmark suite a pair is judged by comparing the two rewards (ties count wrong); the records come in
both A/B orders like the generative judge's, so both kinds of reward model fill the same table.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist

from lit_agents.backbone import BackboneConfig, unwrap
from lit_agents.logging_utils import run_dir
from lit_agents.losses.reward_model import bradley_terry_loss
from lit_agents.reward_benchmarks import BENCHMARK_FIELDS, markdown_table, write_report
from lit_agents.training.backbone_module import BackboneModule, Schedule

log = logging.getLogger(__name__)


def render_dialogue(tokenizer, conversation: list[dict[str, str]], response: str) -> str:
    """The dialogue with ``response`` as the final assistant turn (chat template when the tokenizer has one)."""
    messages = list(conversation) + [{"role": "assistant", "content": response}]
    if getattr(tokenizer, "chat_template", None) is not None:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n".join(f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in messages)


class ScalarRewardModule(BackboneModule):
    """Bradley–Terry reward model; ``test`` judges :class:`~data_modules.reward_benchmarks.RewardBenchmarksDataModule`
    records and writes the benchmark table (``test_reward_benchmarks.{md,json}`` in the run directory).

    Args:
        backbone: the causal LM whose last-token hidden state feeds a linear reward head.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        max_length: tokens of dialogue + response kept (cut on the left, so the response end survives).
    """

    def __init__(self, backbone: BackboneConfig, learning_rate: float = 1e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "constant", max_length: int = 512):
        super().__init__(backbone, task="causal", learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_plain_hyperparameters()
        if max_length < 2:
            raise ValueError(f"model.max_length must be >= 2, got {max_length}")
        self.head = torch.nn.Linear(unwrap(self.model).config.hidden_size, 1)
        self._results: list[dict[str, Any]] = []

    def reward(self, conversations: list[list[dict[str, str]]], responses: list[str]) -> torch.Tensor:
        """``[B]`` rewards; the dialogue is cut on the left so the response end always survives."""
        texts = [render_dialogue(self.tokenizer, c, r) for c, r in zip(conversations, responses, strict=True)]
        side, tside = self.tokenizer.padding_side, self.tokenizer.truncation_side
        self.tokenizer.padding_side, self.tokenizer.truncation_side = "right", "left"
        try:
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.hparams.max_length)
        finally:
            self.tokenizer.padding_side, self.tokenizer.truncation_side = side, tside
        enc = {k: v.to(self.device) for k, v in enc.items()}
        out = self.model(**enc, output_hidden_states=True)
        last = enc["attention_mask"].sum(dim=1) - 1
        hidden = out.hidden_states[-1][torch.arange(len(texts), device=self.device), last]
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)

    def training_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        n = len(batch["chosen"])
        rewards = self.reward(batch["conversation"] * 2, list(batch["chosen"]) + list(batch["rejected"]))
        chosen, rejected = rewards[:n], rewards[n:]
        loss = bradley_terry_loss(chosen, rejected)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/accuracy", (chosen > rejected).float().mean(), batch_size=n)
        return loss

    @torch.no_grad()
    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        n = len(batch["label"])
        rewards = self.reward(batch["conversation"] * 2, list(batch["response_A"]) + list(batch["response_B"]))
        for i in range(n):
            a, b = float(rewards[i]), float(rewards[n + i])
            self._results.append({"pair_id": batch["pair_id"][i], "order": batch["order"][i],
                                  "label": batch["label"][i], "verdict": None if a == b else ("A" if a > b else "B"),
                                  **{k: batch[k][i] for k in BENCHMARK_FIELDS if k in batch}})

    def on_test_epoch_end(self) -> None:
        local, self._results = self._results, []
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[list[dict]] = [None] * dist.get_world_size()  # type: ignore[list-item]
            dist.all_gather_object(parts, local)
            local = [r for p in parts for r in p]
        results = list({(r["pair_id"], r["order"]): r for r in local}.values())
        if self.trainer.is_global_zero and results:
            table = write_report(run_dir(self.trainer), "test", results, judge="scalar")
            log.info("test reward benchmarks:\n%s", markdown_table(table, judge="scalar"))
            for bench, scores in table.items():
                for k, v in scores.items():
                    if not k.startswith("subset/"):
                        self.log(f"test/{bench}/{k}", float(v), rank_zero_only=True, batch_size=1)
