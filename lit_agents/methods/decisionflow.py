"""DecisionFlow (Chen et al., EMNLP 2025 Findings, arXiv:2505.21397): an LLM as a principled decision maker.

Inference only (``lit-agents test|predict``). For a scenario and a target (``high`` / ``low`` on an attribute
such as risk aversion), the pipeline of the talk:

1. **variables**: the affected entities and the candidate actions;
2. **attributes and constraints** relevant in this context;
3. **scoring**: the action × attribute decision matrix (0-10), then **filtering** out the attributes that are
   noise for this target;
4. **utility**: the latent utility of a decision maker with the target, as attribute weights in [-1, 1]; the
   decision is the argmax over actions of Σ weight · score (computed here, not by the model); then a rationale
   is written from the matrix, the weights and the choice.

Every step is a prompt template (``lit_agents/prompts/decisionflow_*.txt``) and every call goes through a
:class:`~lit_agents.generation.TextGenerator` (local transformers, vLLM / OpenAI / the project's test server),
wrapped in the resumable :class:`~lit_agents.generation.CachedGenerator` when ``cache_path`` is set, so a
killed run resumes without repeating a finished call. JSON answers are parsed with bounded repair
(:mod:`lit_agents.structured`); every failed parse is counted.

Baselines and ablations (``method``/``scoring``/``filtering``): ``zero_shot``, ``cot``, ``self_consistency``
(majority vote over ``num_samples`` sampled CoT answers), ``joint`` (the four steps in one prompt),
``scoring: false`` (no matrix: the decision is asked for directly from the attributes), ``filtering: false``.
Scores: High-acc, Low-acc and Bias = High − Low per attribute and overall (:func:`data_modules.mta.alignment_scores`).
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any, Literal

import lightning as L
import torch.distributed as dist

from data_modules.mta import alignment_scores
from lit_agents.generation import CachedGenerator, TextGenerator
from lit_agents.logging_utils import run_dir
from lit_agents.prompts import load_prompt
from lit_agents.structured import JSONCaller, ParseStats

log = logging.getLogger(__name__)
Method = Literal["decisionflow", "joint", "zero_shot", "cot", "self_consistency"]

SHAPES = {
    "variables": '{"variables": [{"name": "...", "facts": "..."}], "actions": ["(1) ...", "(2) ..."]}',
    "attributes": '{"attributes": [{"name": "...", "description": "..."}], "constraints": ["..."]}',
    "scoring": '{"matrix": {"1": {"<attribute>": <0-10>}, "2": {"<attribute>": <0-10>}}}',
    "filtering": '{"keep": ["<attribute>", ...]}',
    "utility": '{"weights": {"<attribute>": <weight in [-1, 1]>}}',
    "choice": '{"choice": <choice number>}',
    "joint": '{"attributes": [...], "matrix": {"1": {"<attribute>": <0-10>}}, "weights": {"<attribute>": <w>}, '
             '"choice": <choice number>, "rationale": "..."}',
}


def attribute_definitions() -> dict[str, str]:
    """``name: definition`` lines of ``decisionflow_attribute_definitions.txt``."""
    out = {}
    for line in load_prompt("decisionflow_attribute_definitions").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


# ---- validators: raise ValueError to send a repair prompt -------------------------------------------------

def _jsonable(matrix: dict[int, dict[str, float]] | None) -> dict[str, dict[str, float]] | None:
    """A decision matrix keyed by choice number (1-based strings), as written to the predictions."""
    return None if matrix is None else {str(k + 1): row for k, row in sorted(matrix.items())}


def _name(a: Any) -> str:
    name = a.get("name") if isinstance(a, dict) else a
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an attribute without a name")
    return name.strip()


def validate_variables(d: dict) -> dict:
    if not isinstance(d.get("actions"), list) or not d["actions"]:
        raise ValueError("'actions' must be a non-empty list")
    return {"variables": d.get("variables", []), "actions": [str(a) for a in d["actions"]]}


def validate_attributes(d: dict) -> dict:
    attrs = d.get("attributes")
    if not isinstance(attrs, list) or not attrs:
        raise ValueError("'attributes' must be a non-empty list")
    cons = d.get("constraints", [])
    return {"attributes": list(dict.fromkeys(_name(a) for a in attrs)),
            "constraints": [str(c) for c in cons] if isinstance(cons, list) else [str(cons)]}


def validate_matrix(d: dict, n_choices: int) -> dict[int, dict[str, float]]:
    """``{"matrix": {"1": {attr: score}}}`` → ``{0: {attr: score}}`` covering every choice, scores in [0, 10]."""
    m = d.get("matrix", d)
    if not isinstance(m, dict):
        raise ValueError("'matrix' must be an object keyed by choice number")
    out: dict[int, dict[str, float]] = {}
    for key, row in m.items():
        digits = "".join(ch for ch in str(key) if ch.isdigit())
        if not digits or not isinstance(row, dict):
            raise ValueError(f"matrix row {key!r} is not '<choice number>': {{attribute: score}}")
        k = int(digits) - 1
        if not 0 <= k < n_choices:
            raise ValueError(f"matrix row {key!r}: there are {n_choices} choices")
        out[k] = {_name(a): min(10.0, max(0.0, float(v))) for a, v in row.items()}
    missing = [i + 1 for i in range(n_choices) if i not in out]
    if missing:
        raise ValueError(f"matrix rows missing for choices {missing}")
    return out


def validate_keep(d: dict, attributes: list[str]) -> list[str]:
    keep = d.get("keep")
    if not isinstance(keep, list):
        raise ValueError("'keep' must be a list of attribute names")
    kept = [a for a in attributes if a in {_name(k) for k in keep}]
    if not kept:
        raise ValueError(f"'keep' names none of the matrix attributes {attributes}")
    return kept


def validate_weights(d: dict) -> dict[str, float]:
    w = d.get("weights")
    if not isinstance(w, dict) or not w:
        raise ValueError("'weights' must be a non-empty object {attribute: weight}")
    return {_name(a): max(-1.0, min(1.0, float(v))) for a, v in w.items()}


def validate_choice(d: dict, n_choices: int) -> int:
    c = d.get("choice")
    if isinstance(c, str):
        digits = "".join(ch for ch in c if ch.isdigit())
        c = int(digits) if digits else None
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 1 <= int(c) <= n_choices:
        raise ValueError(f"'choice' must be a choice number from 1 to {n_choices}")
    return int(c) - 1


def utility_argmax(matrix: dict[int, dict[str, float]], weights: dict[str, float],
                   keep: list[str] | None = None) -> tuple[int, dict[int, float]]:
    """The action maximising Σ_a w_a · M[action][a] over the kept attributes (first one on ties)."""
    utils = {k: sum(weights.get(a, 0.0) * s for a, s in row.items() if keep is None or a in keep)
             for k, row in matrix.items()}
    best = max(sorted(utils), key=lambda k: utils[k])
    return best, utils


def majority_vote(choices: list[int | None]) -> int | None:
    """The most frequent parsed choice (smallest index on ties); None when none parsed."""
    counts = Counter(c for c in choices if c is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(c for c, n in counts.items() if n == top)


class DecisionFlowModule(L.LightningModule):
    """DecisionFlow and its baselines on :class:`~data_modules.mta.MTADataModule` records (no training).

    Args:
        generator: the LLM (any ``TextGenerator``: ``OpenAIGenerator`` for vLLM / GPT-4o / the test server,
            ``TransformersGenerator`` for a local model).
        cache_path: a JSONL response cache (resumable); None = no cache.
        method: ``decisionflow`` (the step-by-step pipeline), ``joint`` (one prompt), ``zero_shot``, ``cot``,
            ``self_consistency``.
        scoring: score the action × attribute matrix (False: the "without scoring" ablation; ``decisionflow`` only).
        filtering: filter the matrix's irrelevant attributes (False: the "without filtering" ablation).
        num_samples: self-consistency's number of sampled CoT answers (majority vote).
        sc_temperature: self-consistency's sampling temperature.
        max_new_tokens: tokens per pipeline call.
        rationale_max_new_tokens: tokens of the final rationale.
        max_repairs: repair prompts per invalid JSON answer (0 = none).
    """

    def __init__(self, generator: TextGenerator, cache_path: str | None = None, method: Method = "decisionflow",
                 scoring: bool = True, filtering: bool = True, num_samples: int = 5, sc_temperature: float = 0.7,
                 max_new_tokens: int = 512, rationale_max_new_tokens: int = 256, max_repairs: int = 2):
        super().__init__()
        if method not in ("decisionflow", "joint", "zero_shot", "cot", "self_consistency"):
            raise ValueError(f"model.method: unknown {method!r}")
        if num_samples < 1:
            raise ValueError(f"model.num_samples must be >= 1, got {num_samples}")
        # the generator is an object (the run's config.yaml records it); the rest are plain values
        self.save_hyperparameters(ignore=["generator"])
        self.generator = CachedGenerator(generator, cache_path) if cache_path else generator
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=0.0)
        self.rationale_sampling = dict(max_new_tokens=rationale_max_new_tokens, temperature=0.0)
        self.stats = ParseStats()
        self.caller = JSONCaller(self.generator, max_repairs=max_repairs, stats=self.stats)
        self.definitions = attribute_definitions()
        self._results: list[dict[str, Any]] = []

    # ---- prompts --------------------------------------------------------------------------------------
    def _fields(self, r: dict) -> dict[str, str]:
        choices = "\n".join(f"({i + 1}) {c}" for i, c in enumerate(r["choices"]))
        context = load_prompt("decisionflow_context").format(scenario=r["scenario"], state=r["state"] or "",
                                                            probe=r["probe"], choices=choices).strip()
        attr = r["attribute"]
        return {"context": context, "attribute": attr.replace("_", " "), "target": r["target"],
                "attribute_definition": self.definitions.get(attr, attr.replace("_", " "))}

    def _prompt(self, name: str, r: dict, **extra: Any) -> str:
        return load_prompt(f"decisionflow_{name}").format(**self._fields(r), **extra)

    # ---- pipelines (each over a batch of records) -----------------------------------------------------
    def _batch_choice(self, records: list[dict], template: str, **sampling: Any) -> list[tuple[int | None, str]]:
        prompts = [self._prompt(template, r) for r in records]
        ns = [len(r["choices"]) for r in records]
        parsed, raw = self.caller.json(prompts, shape=SHAPES["choice"], validate=lambda d, i: validate_choice(d, ns[i]),
                                       **{**self.sampling, **sampling})
        return list(zip(parsed, raw))

    def run_baseline(self, records: list[dict]) -> list[dict]:
        if self.hparams.method in ("zero_shot", "cot"):
            return [{"prediction": c, "raw": raw} for c, raw in self._batch_choice(records, self.hparams.method)]
        votes: list[list[int | None]] = [[] for _ in records]
        raws: list[list[str]] = [[] for _ in records]
        for s in range(self.hparams.num_samples):
            choices = self._batch_choice(records, "cot", temperature=self.hparams.sc_temperature, seed=s)
            for i, (c, raw) in enumerate(choices):
                votes[i].append(c)
                raws[i].append(raw)
        return [{"prediction": majority_vote(v), "votes": v, "raw": raws[i][-1]} for i, v in enumerate(votes)]

    def run_joint(self, records: list[dict]) -> list[dict]:
        prompts = [self._prompt("joint", r) for r in records]

        def check(d: dict, n: int) -> dict:
            out = {"choice": validate_choice(d, n), "rationale": str(d.get("rationale", ""))}
            try:
                out["matrix"] = validate_matrix(d, n)
                out["weights"] = validate_weights(d)
            except (ValueError, TypeError):  # the joint answer's choice stands on its own
                pass
            return out

        parsed, raw = self.caller.json(prompts, shape=SHAPES["joint"],
                                       validate=lambda d, i: check(d, len(records[i]["choices"])), **self.sampling)
        return [{"prediction": p["choice"] if p else None, "decision_matrix": _jsonable(p.get("matrix")) if p else None,
                 "weights": p.get("weights") if p else None, "rationale": p["rationale"] if p else "", "raw": q}
                for p, q in zip(parsed, raw)]

    def run_decisionflow(self, records: list[dict]) -> list[dict]:
        n = len(records)
        out: list[dict] = [{"prediction": None, "steps_failed": []} for _ in records]
        # 1. variables and actions (target-independent: shared by the high and low record of an item)
        var, _ = self.caller.json([self._prompt("variables", r) for r in records], shape=SHAPES["variables"],
                                  validate=lambda d, i: validate_variables(d), **self.sampling)
        # 2. attributes and constraints
        live = [i for i in range(n) if var[i] is not None]
        for i in range(n):
            if var[i] is None:
                out[i]["steps_failed"].append("variables")
        att_prompts = [self._prompt("attributes", records[i], variables=json.dumps(var[i], ensure_ascii=False))
                       for i in live]
        att_list, _ = self.caller.json(att_prompts, shape=SHAPES["attributes"],
                                       validate=lambda d, i: validate_attributes(d), **self.sampling)
        att = dict(zip(live, att_list))
        for i in live:
            out[i].update(variables=var[i], attributes=att[i])
            if att[i] is None:
                out[i]["steps_failed"].append("attributes")
        live = [i for i in live if att[i] is not None]
        if not self.hparams.scoring:  # ablation: decide from the attributes and constraints, no matrix
            prompts = [self._prompt("direct_decision", records[i], attributes=json.dumps(att[i], ensure_ascii=False))
                       for i in live]
            parsed, _ = self.caller.json(prompts, shape=SHAPES["choice"],
                                         validate=lambda d, j: validate_choice(d, len(records[live[j]]["choices"])),
                                         **self.sampling)
            for i, c in zip(live, parsed):
                out[i]["prediction"] = c
                if c is None:
                    out[i]["steps_failed"].append("decision")
            return out
        # 3. the decision matrix
        prompts = [self._prompt("scoring", records[i], attributes=json.dumps(att[i], ensure_ascii=False))
                   for i in live]
        mats, _ = self.caller.json(prompts, shape=SHAPES["scoring"],
                                   validate=lambda d, j: validate_matrix(d, len(records[live[j]]["choices"])),
                                   **self.sampling)
        mat = dict(zip(live, mats))
        for i in live:
            out[i]["decision_matrix"] = _jsonable(mat[i])
            if mat[i] is None:
                out[i]["steps_failed"].append("scoring")
        live = [i for i in live if mat[i] is not None]
        # 3b. filtering for the target
        keep: dict[int, list[str] | None] = {i: None for i in live}
        if self.hparams.filtering and live:
            names = {i: sorted({a for row in mat[i].values() for a in row}) for i in live}
            prompts = [self._prompt("filtering", records[i], matrix=json.dumps(_jsonable(mat[i]), ensure_ascii=False))
                       for i in live]
            kept, _ = self.caller.json(prompts, shape=SHAPES["filtering"],
                                       validate=lambda d, j: validate_keep(d, names[live[j]]), **self.sampling)
            for i, k in zip(live, kept):
                keep[i] = k
                out[i]["kept_attributes"] = k
                if k is None:  # counted; the unfiltered matrix is used
                    out[i]["steps_failed"].append("filtering")
        # 4. utility weights -> argmax
        shown = {i: {k + 1: {a: s for a, s in row.items() if keep[i] is None or a in keep[i]}
                     for k, row in mat[i].items()} for i in live}
        prompts = [self._prompt("utility", records[i], matrix=json.dumps(shown[i], ensure_ascii=False)) for i in live]
        ws, _ = self.caller.json(prompts, shape=SHAPES["utility"], validate=lambda d, i: validate_weights(d),
                                 **self.sampling)
        decided = []
        for i, w in zip(live, ws):
            out[i]["weights"] = w
            if w is None:
                out[i]["steps_failed"].append("utility")
                continue
            best, utils = utility_argmax(mat[i], w, keep[i])
            out[i].update(prediction=best, utilities={k + 1: u for k, u in utils.items()})
            decided.append(i)
        # 5. rationale from the matrix, the weights and the choice
        prompts = [self._prompt("rationale", records[i], matrix=json.dumps(shown[i], ensure_ascii=False),
                                weights=json.dumps(out[i]["weights"], ensure_ascii=False),
                                choice=out[i]["prediction"] + 1,
                                choice_text=records[i]["choices"][out[i]["prediction"]]) for i in decided]
        for i, text in zip(decided, self.caller.text(prompts, **self.rationale_sampling)):
            out[i]["rationale"] = text.strip()
        return out

    def decide(self, records: list[dict]) -> list[dict]:
        """Predictions (and the intermediate structures) for a list of MTA records."""
        if self.hparams.method == "decisionflow":
            outs = self.run_decisionflow(records)
        elif self.hparams.method == "joint":
            outs = self.run_joint(records)
        else:
            outs = self.run_baseline(records)
        return [{"item_id": r["item_id"], "attribute": r["attribute"], "target": r["target"], "gold": r["gold"],
                 "choices": r["choices"], **o, "correct": o["prediction"] in r["gold"]} for r, o in zip(records, outs)]

    # ---- Lightning hooks ------------------------------------------------------------------------------
    @staticmethod
    def _records(batch: dict[str, list]) -> list[dict]:
        n = len(batch["item_id"])
        return [{k: v[i] for k, v in batch.items()} for i in range(n)]

    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._results += self.decide(self._records(batch))

    def predict_step(self, batch: dict[str, list], batch_idx: int) -> list[dict]:
        preds = self.decide(self._records(batch))
        self._results += preds
        return preds

    def _finish(self, stage: str) -> dict[str, float]:
        local, self._results = self._results, []
        stats = self.stats.as_dict()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (local, stats))
            local = [r for p, _ in parts for r in p]
            stats = {k: sum(s[k] for _, s in parts) for k in stats}
        results = list({(r["item_id"], r["target"]): r for r in local}.values())
        metrics = {**alignment_scores(results), **{f"parse/{k}": float(v) for k, v in stats.items()}}
        if self.trainer.is_global_zero:
            d = run_dir(self.trainer)
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"{stage}_decisionflow_predictions.jsonl", "w", encoding="utf-8") as f:
                for r in results:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            (d / f"{stage}_decisionflow_metrics.json").write_text(json.dumps(
                {"method": self.hparams.method, "scoring": self.hparams.scoring,
                 "filtering": self.hparams.filtering, **metrics}, indent=2))
            log.info("%s DecisionFlow (%s): %s", stage, self.hparams.method,
                     json.dumps({k: round(v, 4) for k, v in metrics.items()}))
        return metrics

    def _reset(self) -> None:
        self._results = []
        for k in self.stats.as_dict():
            setattr(self.stats, k, 0)

    def on_test_epoch_start(self) -> None:
        self._reset()

    def on_predict_epoch_start(self) -> None:
        self._reset()

    def on_test_epoch_end(self) -> None:
        for k, v in self._finish("test").items():
            self.log(f"test/{k}", float(v), rank_zero_only=True, batch_size=1)

    def on_predict_epoch_end(self) -> None:
        self._finish("predict")

    def configure_optimizers(self):  # inference only
        return None
