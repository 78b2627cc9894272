"""Constructor defaults equal the embedded defaults (issue 14 item 10).

Every ``init_args`` value of an embedded config (``configs/<method>.yaml``, including nested dataclass groups and
nested ``class_path`` objects) must equal the constructor's default, so a module built in Python, from a config
that omits the key, or from the embedded YAML runs the same method. The only exceptions are the keys below,
where the embedded run is scaled down (a tiny randomly initialised model, a CPU budget of minutes, the bundled
samples) or names its data / method variant; each says why. An exception names the class that declares the
argument or any subclass of it (``GRPOModule`` covers ``ToolRLModule``).
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing

import pytest
import yaml

from tests.helpers import REPO

# configs/*.yaml that are a variant of another embedded config, not a method's embedded default
VARIANTS = {"reliable_mdp.yaml": "the MDP ablation of reliable.yaml (window 1, no sequence model)",
            "rm_r1_grpo_from_distill.yaml": "stage 2 continued from the stage-1 export",
            "toolrl_bamboogle.yaml": "the ToolRL evaluation on Bamboogle with the search tool (test only)",
            "toolrl_disjoint_warmup.yaml": "the ToolRL warm-up on a disjoint tool world (a measured negative)"}
EMBEDDED = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name not in VARIANTS)

TINY_LR = "a randomly initialised tiny model needs a larger step than the paper's (paper configs set theirs)"
BYTES = "byte-level (ByT5) tokens: lengths in bytes, not the paper tokenizer's tokens"
SHORT = "a run of minutes on CPU"
DATA = "names the bundled samples / their size"
SCALED: dict[tuple[str, str], str] = {
    ("*", "learning_rate"): TINY_LR,
    ("*", "warmup_steps"): SHORT,
    ("*", "eval_batch_size"): SHORT,
    ("*", "batch_size"): SHORT,
    ("Seq2SeqQAModule", "max_source_length"): BYTES,
    ("Seq2SeqQAModule", "max_target_length"): BYTES,
    ("Seq2SeqQAModule", "max_new_tokens"): BYTES,
    ("FewShotQADataModule", "val_size"): DATA,
    ("FewShotQADataModule", "augmentation"): "configs/minprompt.yaml selects MinPrompt (the default is Gotta)",
    ("IterAlignModule", "red_team_sampling"): "tiny random policy: short sampled replies (paper: greedy, 500 tokens)",
    ("IterAlignModule", "reflection_sampling"): "tiny random policy: short sampled replies (paper: greedy, 500 tokens)",
    ("IterAlignModule", "keep_revisions"): "a random tiny policy never refuses, so no revision passes the judge "
                                           "(README, IterAlign)",
    ("IterAlignModule", "sft_epochs"): SHORT,
    ("IterAlignModule", "sft_batch_size"): SHORT,
    ("RedTeamDataModule", "chunk_size"): SHORT,
    ("RedTeamDataModule", "max_steps_per_iteration"): SHORT,
    ("RedTeamDataModule", "eval_sets"): DATA,
    ("DiffusionPlanner", "horizon"): "the synthetic possessions' length at 5 fps",
    ("DiffusionPlanner", "net"): "tiny U-Net",
    ("DiffusionPlanner", "planning"): "5 fps synthetic games: replanning interval, samples and step time scaled",
    ("DiffusionPlanner", "ema"): SHORT,
    ("DiffusionPlanner", "evaluation"): SHORT,
    ("PlayBestDataModule", "synthetic"): DATA,
    ("PlayBestDataModule", "horizon"): "the synthetic possessions' length at 5 fps",
    ("PlayBestDataModule", "test_fraction"): DATA,
    ("ReLiableDQN", "encoder"): "tiny encoder",
    ("ReLiableDQN", "target_update_every"): SHORT,
    ("ReLiableDataModule", "synthetic"): DATA,
    ("RMR1DistillModule", "max_length"): BYTES,
    ("RMR1DistillModule", "eval_max_new_tokens"): BYTES,
    ("RMR1DistillModule", "export_dir"): "where the run writes its policy",
    ("TraceDistillDataModule", "system_prompt"): "tiny model: the short CoR system prompt",
    ("TraceDistillDataModule", "max_response_chars"): BYTES,
    ("GRPOModule", "reward_weights"): "[1.0, 1.0] spelled out (the default None means 1.0 for each function)",
    ("GRPOModule", "reward_failure_value"): "RM-R1's ±1 reward: a failure scores as a wrong verdict (the engine's "
                                            "default is neutral, 0)",
    ("GRPOModule", "beta"): "RM-R1's KL coefficient 1e-3; the tiny ToolRL default's 0.05 against the warmed-up "
                            "policy (the engine's default is TRL's 0)",
    ("ToolRLModule", "kl_reference"): "the tiny ToolRL default: KL against the warmed-up policy (README, ToolRL)",
    ("GRPOModule", "max_prompt_length"): BYTES,
    ("GRPOModule", "max_completion_length"): BYTES,
    ("GRPOModule", "eval_max_new_tokens"): BYTES,
    ("GRPOModule", "log_completions_every"): SHORT,
    ("ToolRLModule", "num_generations"): "the released ToolRL recipe's 4 samples per prompt (the engine's default "
                                         "is 8)",
    ("ToolUseDataModule", "synthetic"): DATA,
    ("ToolUseDataModule", "system_prompt"): "tiny model: the short system prompt",
    ("ToolRLModule", "format_warmup_steps"): "the tiny random model's stand-in for the paper's instruct starting "
                                             "point: a format warm-up that knows no tool choice (README, ToolRL)",
    ("ToolRLModule", "format_warmup_lr"): "the tiny random model's format warm-up (README, ToolRL)",
    ("ToolUseDataModule", "format_targets"): "the format warm-up's targets (configs/toolrl.yaml)",
    ("ToolUseDataModule", "format_target_arguments"): "the tiny default's warm-up: own values, tool and binding "
                                                      "drawn at random (README, ToolRL)",
    ("DecisionFlowModule", "cache_path"): "where the run caches the LLM's replies",
    ("DecisionFlowModule", "max_new_tokens"): SHORT,
    ("DecisionFlowModule", "rationale_max_new_tokens"): SHORT,
    ("RewardBenchmarksDataModule", "train"): DATA,
    ("RewardBenchmarksDataModule", "system_prompt"): "tiny model: the short CoR system prompt",
    ("RewardBenchmarksDataModule", "max_response_chars"): BYTES,
    ("PreferenceDataModule", "system_prompt"): "tiny model: the short CoR system prompt",
    ("PreferenceDataModule", "max_response_chars"): BYTES,
    ("SFTModule", "max_length"): BYTES,
    ("SFTModule", "num_val_samples"): SHORT,
    ("SFTModule", "val_max_new_tokens"): BYTES,
    ("DistillationModule", "teacher_prefixes"): "one prefix per teacher of the embedded data",
    ("DistillationModule", "teacher_weights"): "[1.0, 1.0] spelled out (the default None means 1.0 per teacher)",
    ("DistillationModule", "max_input_length"): BYTES,
    ("DistillationModule", "max_label_length"): BYTES,
    ("DistillationModule", "option_score"): "tiny student: per-token mean (paper configs: the released sum)",
    ("DistillationModule", "scheduler"): "tiny student: cosine (README, TinyLLM; paper configs: constant)",
    ("PreCollectedRationales", "teacher"): "the second teacher of the embedded data",
    ("MCQADistillDataModule", "rationale_teachers"): DATA,
}


def _resolve(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _dataclass_in(annotation) -> type | None:
    return next((a for a in (typing.get_args(annotation) or (annotation,)) if dataclasses.is_dataclass(a)), None)


def _init_params(cls: type) -> tuple[dict[str, inspect.Parameter], dict]:
    """The constructor's parameters and type hints; a constructor that forwards ``**kwargs`` to its base
    (``ToolRLModule(*args, format_warmup_steps=…, **kwargs)``) also takes the base's."""
    params, hints = {}, {}
    for c in cls.__mro__:
        if "__init__" not in vars(c):
            continue
        sig = inspect.signature(c.__init__).parameters
        for name, p in sig.items():
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name != "self":
                params.setdefault(name, p)
        for name, h in typing.get_type_hints(c.__init__).items():
            hints.setdefault(name, h)
        if not any(p.kind == p.VAR_KEYWORD for p in sig.values()):
            break
    return params, hints


def differences(obj: dict, where: str) -> list[tuple[tuple[str, ...], str, str, object, object]]:
    """``(class and base-class names, key, where, yaml value, default)`` for each init_arg that differs from the
    constructor default."""
    cls = _resolve(obj["class_path"])
    names = tuple(c.__name__ for c in cls.__mro__)
    params, hints = _init_params(cls)
    out = []
    for key, value in (obj.get("init_args") or {}).items():
        assert key in params, f"{where}: {cls.__name__} has no argument {key!r}"
        default = params[key].default
        if default is inspect.Parameter.empty:
            continue
        if isinstance(value, dict) and "class_path" in value:
            out += differences(value, f"{where}.{key}")
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) and "class_path" in v for v in value):
            for i, v in enumerate(value):
                out += differences(v, f"{where}.{key}[{i}]")
            continue
        group = _dataclass_in(hints.get(key)) if isinstance(value, dict) else None
        if group is not None:  # a dataclass group: compare the fields the YAML sets
            defaults = dataclasses.asdict(default if dataclasses.is_dataclass(default) else group())
            for field, v in value.items():
                if defaults.get(field) != v:
                    out.append((names, key, f"{where}.{key}.{field}", v, defaults.get(field)))
            continue
        if dataclasses.is_dataclass(default):
            default = dataclasses.asdict(default)
        if default != value:
            out.append((names, key, f"{where}.{key}", value, default))
    return out


def _all_differences() -> list[tuple[tuple[str, ...], str, str, object, object]]:
    out = []
    for path in EMBEDDED:
        cfg = yaml.safe_load(path.read_text())
        for part in ("model", "data"):
            out += differences(cfg[part], f"{path.relative_to(REPO)}:{part}")
    return out


def test_embedded_configs_use_the_constructor_defaults():
    unexplained = [f"{where}: yaml {value!r} != default {default!r}" for names, key, where, value, default
                   in _all_differences() if not any((n, key) in SCALED for n in (*names, "*"))]
    assert not unexplained, "\n".join(unexplained)


def test_the_check_sees_a_changed_default():
    """The comparison itself: ReLiable's gamma 0.95 (issue 14 item 10) is the constructor default, 0.99 is not."""
    obj = {"class_path": "lit_agents.methods.dqn.ReLiableDQN", "init_args": {"gamma": 0.99, "loss": "huber"}}
    assert [(key, value, default) for _, key, _, value, default in differences(obj, "x")] == [("gamma", 0.99, 0.95)]
    group = {"class_path": "lit_agents.methods.dqn.ReLiableDQN", "init_args": {"encoder": {"d_model": 7}}}
    assert [(key, where) for _, key, where, *_ in differences(group, "x")] == [("encoder", "x.encoder.d_model")]


@pytest.mark.parametrize("name, reason", sorted(VARIANTS.items()))
def test_variants_exist(name, reason):
    assert (REPO / "configs" / name).is_file(), reason
