"""Tool-use records for ToolRL: the raw rlla json (``instruction``/``input``/``output``), the verl parquet
(``prompt`` messages + ``reward_model.ground_truth``), Bamboogle-style QA (``Question``/``Answer``, asked with
tools), or a synthetic task whose correct call is determined by the prompt (the tiny default).

A record is ``{id, prompt: [system, user] messages, answer: gold output text (also as ``response``, so
SFTModule trains on these records: the SFT400 baseline), gold_calls: list of
{"name", "parameters"} | None, gold_response: str | None, kind: "tool_call" | "response" | "qa"}``; the
ground truth is parsed once here (after ``</think>``, whose reasoning may mention the tags) and bad records
raise a located :class:`DataError` (file, record, field) or are counted and skipped (``on_error: skip``).
"""
from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from data_modules.base import RecordsDataModule, split_records
from data_modules.io import SkipCounter, read_records, samples_dir
from lit_agents.fileio import DataError
from lit_agents.prompts import load_prompt
from lit_agents.tools.parsing import (
    CALL_CLOSE,
    CALL_OPEN,
    THINK_CLOSE,
    extract_response,
    parse_tool_calls,
    render_tool_calls,
    tool_call_block,
)
from lit_agents.tools.registry import FunctionTool, import_function

Format = Literal["auto", "rlla", "verl", "qa"]
History = Literal["released", "messages"]
SAMPLES = samples_dir() / "toolrl"


def parse_ground_truth(output: str, *, path: str, line: int, field: str) -> tuple[list[dict] | None, str | None]:
    """``(gold_calls, gold_response)`` of a gold turn; at least one of them is set."""
    tail = output.split(THINK_CLOSE, 1)[1] if THINK_CLOSE in output else output
    calls = None
    if CALL_OPEN in tail:
        block = tool_call_block(tail)
        if block is None:
            raise DataError(f"{CALL_OPEN} without {CALL_CLOSE}", path=path, line=line, field=field)
        try:
            calls = parse_tool_calls(block)
        except ValueError as e:
            raise DataError(f"bad tool call ({e})", path=path, line=line, field=field) from None
    response = extract_response(output)
    if calls is None and response is None:
        raise DataError("the gold output has neither a <tool_call> block nor a <response>", path=path, line=line,
                        field=field)
    return calls, response


_TURN = re.compile(r"<(user|obs)>(.*?)</\1>", re.DOTALL)


def history_messages(history: str, *, path: str, line: int) -> list[dict[str, str]]:
    """The rlla dialogue history as chat messages: ``<user>`` turns → user, the assistant blocks between them
    (``<think>``/``<tool_call>``/``<response>``) → assistant, ``<obs>`` turns → user (tagged ``<obs>``)."""
    text = history.split("**Dialogue Records History**", 1)[-1]
    msgs: list[dict[str, str]] = []
    pos = 0
    for m in _TURN.finditer(text):
        between = text[pos:m.start()].strip()
        if between:
            msgs.append({"role": "assistant", "content": between})
        tag, body = m.group(1), m.group(2).strip()
        msgs.append({"role": "user", "content": body if tag == "user" else f"<obs> {body} </obs>"})
        pos = m.end()
    if text[pos:].strip():
        msgs.append({"role": "assistant", "content": text[pos:].strip()})
    if not msgs or msgs[0]["role"] != "user" or msgs[-1]["role"] != "user":
        raise DataError("the dialogue history must start with a <user> turn and end with a user or <obs> turn",
                        path=path, line=line, field="input")
    return msgs


def _messages(val: Any, path: str, line: int) -> list[dict[str, str]]:
    if not isinstance(val, list) or not val or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in val):
        raise DataError("expected a non-empty list of {role, content} messages", path=path, line=line, field="prompt")
    return [{"role": m["role"], "content": m["content"]} for m in val]


@dataclass
class SyntheticToolTask:
    """Tool calls whose name and arguments the prompt determines (``"<op> <a> <b>"`` → ``op(a=…, b=…)``), for a
    tiny model to learn from a cold start. ``ops``: tool names, each taking integer ``params`` drawn from
    ``[0, max_number]``; the prompt is ``"<op> <v1> <v2> …"``; ``think``: the gold ``<think>`` text; ``seed``:
    of the draws; ``n_*``: distinct prompts per split (at most ``len(ops) · (max_number + 1)^len(params)`` in
    all); ``tool_list``: the tools in the system prompt in the rlla form (``Name``/``Description``/
    ``Parameters`` blocks) or ``compact`` (``add(x: int), mul(x: int)``, one short line)."""

    n_train: int = 128
    n_val: int = 16
    n_test: int = 16
    ops: list[str] = field(default_factory=lambda: ["add", "mul"])
    params: list[str] = field(default_factory=lambda: ["a", "b"])
    max_number: int = 9
    think: str = "call"
    seed: int = 0
    tool_list: Literal["rlla", "compact"] = "rlla"

    def records(self) -> dict[str, list[dict]]:
        rng = random.Random(self.seed)
        seen: set[tuple] = set()
        out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
        space = len(self.ops) * (self.max_number + 1) ** len(self.params)
        total = self.n_train + self.n_val + self.n_test
        if total > space:
            raise ValueError(f"data.synthetic: n_train + n_val + n_test = {total} distinct prompts are asked for, but "
                             f"{len(self.ops)} ops x {self.max_number + 1}^{len(self.params)} values give only "
                             f"{space} (held-out prompts must never occur in training)")
        for split, n in (("test", self.n_test), ("val", self.n_val), ("train", self.n_train)):
            while len(out[split]) < n:
                key = (rng.choice(self.ops), *(rng.randint(0, self.max_number) for _ in self.params))
                if key in seen:  # every prompt is distinct: held-out splits never share one with training
                    continue
                seen.add(key)
                op, vals = key[0], key[1:]
                call = {"name": op, "parameters": dict(zip(self.params, vals))}
                out[split].append({"input": f"<user> {op} {' '.join(map(str, vals))} </user>",
                                   "output": f"<think> {self.think} </think>\n" + render_tool_calls([call])})
        return out


def _tool_specs(task: SyntheticToolTask) -> str:
    """The synthetic tools in the rlla tool-list form or compact (they are never executed: the task is
    single-turn)."""
    if task.tool_list == "compact":
        sig = ", ".join(f"{p}: int" for p in task.params)
        return ", ".join(f"{op}({sig})" for op in task.ops)
    params = {p: {"description": f"integer {p}", "type": "int"} for p in task.params}
    return "\n".join(f"{i}. Name: {op}\nDescription: apply {op}.\nParameters: {json.dumps(params)}"
                     for i, op in enumerate(task.ops, start=1))


class ToolUseDataModule(RecordsDataModule):
    """ToolRL data (see the module docstring).

    Args:
        train_path: training records, a local file (json/jsonl/parquet) or a hub dataset name (default: the
            bundled rlla SFT sample).
        val_path: validation records, same forms (default: the test split, or ``val_fraction`` of train).
        test_path: test records, same forms (default: the bundled real rlla test split).
        split: the split of a hub dataset to read (None: the file's only split).
        format: ``rlla`` (raw), ``verl`` (parquet with ``prompt`` + ``reward_model``), ``qa`` (``Question``/
            ``Answer`` asked with ``tools``), ``auto`` (from the first record's fields).
        history: ``released`` keeps the rlla prompt as released (system + one user message holding the whole
            dialogue history); ``messages`` splits the history into user/assistant turns.
        tools: import paths of typed functions listed in the system prompt of ``qa`` records (e.g.
            ``lit_agents.tools.search.search``; the model-side ``tool_env`` executes them).
        system_prompt: template (with ``{tools}``) for ``qa`` and synthetic records.
        synthetic: generate the synthetic task instead of reading files.
        assistant_prefix: a prefilled start of every answer (e.g. ``"<think>"``), put after the rendered prompt
            by the GRPO engine; rewards and metrics score prefix + completion.
        format_targets: give every training record a ``format_target`` column: the gold output of another
            training record (a seeded derangement), i.e. a well-formed answer unrelated to the prompt, for the
            format warm-up of a cold-start policy (``ToolRLModule.format_warmup_steps``): it teaches the output
            syntax and nothing about which call a prompt needs. Held-out records never get one.
        format_target_arguments: what the format warm-up's targets say about the arguments. ``other`` (the
            default): another record's whole output, as above. ``own``: the record's own call, but its tool name
            drawn afresh at every warm-up step from the task's tools (``format_target_choices``, the synthetic task
            only): the syntax and copying the prompt's values into the call, nothing about which tool a prompt
            needs. ``own_unordered``: also the values bound to the parameters in a random order at every step, so
            which value goes to which parameter is left to the rewards too; the stand-in for an instruct model
            that copies a request's numbers into a call but knows neither the task's tools nor its conventions.
        warmup_task: instead, a *disjoint tool world* for the warm-up (an instruct stage, as the paper's
            instruct starting point): a :class:`SyntheticToolTask` whose tools and parameter names never occur
            in the task; training record ``i`` gets ``warmup_prompt`` (prompt ``i`` of that world, with its own
            tool list) and ``warmup_target`` (its TRUE call), so the policy learns the syntax and to copy the
            arguments from a prompt into the call it names, but nothing about the task's tools. Raises if a
            warm-up tool or parameter name is one of the task's. With ``format_targets`` too, each warm-up step
            trains on both (the task prompts with unrelated targets and the world's prompts with true calls).
        val_fraction: without ``val_path``, hold out this fraction of train (0 = validate on the test split).
        limit: keep the first N records of each file.
        on_error: ``raise`` (located DataError) or ``skip`` (counted).
        batch_size: training prompts per batch per rank.
        eval_batch_size: evaluation records per batch (default: ``batch_size``).
        num_workers: DataLoader worker processes.
        seed: seed of the training order and of the ``val_fraction`` split.
    """

    def __init__(self, train_path: str | None = str(SAMPLES / "rlla_sft_sample.json"), val_path: str | None = None,
                 test_path: str | None = str(SAMPLES / "rlla_test.parquet"), split: str | None = None,
                 format: Format = "auto", history: History = "released", tools: list[str] | None = None,
                 system_prompt: str = "toolrl_system", synthetic: SyntheticToolTask | None = None,
                 assistant_prefix: str | None = None, format_targets: bool = False,
                 format_target_arguments: Literal["other", "own", "own_unordered"] = "other",
                 warmup_task: SyntheticToolTask | None = None, val_fraction: float = 0.0,
                 limit: int | None = None,
                 on_error: Literal["raise", "skip"] = "raise",
                 batch_size: int = 4, eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        self.paths = {"train": train_path, "val": val_path, "test": test_path}
        self.split, self.format, self.history, self.synthetic = split, format, history, synthetic
        self.tool_paths, self.system_template = list(tools or []), system_prompt
        self.val_fraction, self.limit, self.on_error = val_fraction, limit, on_error
        self.assistant_prefix, self.format_targets = assistant_prefix, format_targets
        if format_target_arguments not in ("other", "own", "own_unordered"):
            raise ValueError("data.format_target_arguments must be 'other', 'own' or 'own_unordered', got "
                             f"{format_target_arguments!r}")
        self.format_target_arguments = format_target_arguments
        self.warmup_task = warmup_task
        self.skips = SkipCounter("tool-use records")

    # ------------------------------------------------------------------ record normalisation
    def system_text(self, tools: list[FunctionTool] | str) -> str:
        desc = tools if isinstance(tools, str) else "\n".join(t.describe(i) for i, t in enumerate(tools, start=1))
        return load_prompt(self.system_template).replace("{tools}", desc)

    def _record(self, fmt: str, rec: dict, path: str, line: int) -> dict:
        if fmt == "auto":
            fmt = "verl" if "reward_model" in rec else "qa" if "Question" in rec else "rlla"
        if fmt == "qa":
            for f in ("Question", "Answer"):
                if not isinstance(rec.get(f), str) or not rec[f].strip():
                    raise DataError("expected a non-empty string", path=path, line=line, field=f)
            tools = [FunctionTool.from_function(import_function(p)) for p in self.tool_paths]
            return {"id": f"{path}:{line}", "prompt": [
                {"role": "system", "content": self.system_text(tools)},
                {"role": "user", "content": f"**Dialogue Records History**\n<user> {rec['Question'].strip()} </user>"}],
                "answer": rec["Answer"].strip(), "gold_calls": None, "gold_response": rec["Answer"].strip(),
                "question": rec["Question"].strip(), "kind": "qa"}
        if fmt == "verl":
            prompt = _messages(rec.get("prompt"), path, line)
            gt = (rec.get("reward_model") or {}).get("ground_truth")
            gt_field = "reward_model.ground_truth"
            rid = str((rec.get("extra_info") or {}).get("index", line))
        else:
            for f in ("instruction", "input", "output"):
                if not isinstance(rec.get(f), str) or not rec[f].strip():
                    raise DataError("expected a non-empty string", path=path, line=line, field=f)
            prompt = [{"role": "system", "content": rec["instruction"]}, {"role": "user", "content": rec["input"]}]
            gt, gt_field, rid = rec["output"], "output", str(line)
        if not isinstance(gt, str) or not gt.strip():
            raise DataError("expected the gold output text", path=path, line=line, field=gt_field)
        calls, response = parse_ground_truth(gt, path=path, line=line, field=gt_field)
        if self.history == "messages" and len(prompt) == 2 and prompt[1]["role"] == "user":
            prompt = [prompt[0], *history_messages(prompt[1]["content"], path=path, line=line)]
        return {"id": f"{path}:{rid}", "prompt": prompt, "answer": gt, "response": gt, "gold_calls": calls,
                "gold_response": response, "kind": "tool_call" if calls is not None else "response"}

    def read(self, source: str) -> list[dict]:
        """Normalised records of one file or hub dataset."""
        recs = read_records(source, split=self.split, on_error=self.on_error, skips=self.skips, name="tool-use records",
                            transform=lambda r, p, ln: self._record(self.format, r, p, ln))
        return recs[: self.limit] if self.limit is not None else recs

    def _synthetic(self) -> dict[str, list[dict]]:
        task = self.synthetic
        system = self.system_text(_tool_specs(task))
        out = {}
        for split, raws in task.records().items():
            out[split] = []
            for i, r in enumerate(raws, start=1):
                rec = self._record("rlla", {"instruction": system, "input": r["input"], "output": r["output"]},
                                   f"synthetic:{split}", i)
                out[split].append(rec)
        return out

    def synthetic_corpus_text(self) -> str:
        """The synthetic task's training text (the system prompt, then each training prompt and gold output),
        what the tiny default's BPE is trained on (``data_modules/samples/toolrl/synthetic_bpe_corpus.txt``):
        held-out prompts are not in it."""
        if self.synthetic is None:
            raise ValueError("synthetic_corpus_text needs data.synthetic")
        system = self.system_text(_tool_specs(self.synthetic))
        train = self.synthetic.records()["train"]
        return system + "\n\n" + "".join(f"{r['input']}\n{r['output']}\n" for r in train)

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str | None = None) -> None:
        if self.synthetic is not None:
            recs = self._synthetic()
            self.train_records, self.val_records, self.test_records = recs["train"], recs["val"], recs["test"]
            self.predict_records = self.test_records
            self._add_prefix()
            self._add_format_targets()
            self._add_warmup_world()
            return
        train = self.read(self.paths["train"]) if self.paths["train"] else []
        test = self.read(self.paths["test"]) if self.paths["test"] else []
        if self.paths["val"]:
            val = self.read(self.paths["val"])
        elif self.val_fraction > 0 and train:
            train, val = split_records(train, self.val_fraction, self.seed)
        else:
            val = test
        self.train_records, self.val_records, self.test_records, self.predict_records = train, val, test, test
        self._add_prefix()
        self._add_format_targets()
        self._add_warmup_world()

    def warmup_records(self) -> list[dict]:
        """The disjoint warm-up world's records (``data.warmup_task``; all its splits: none is evaluated)."""
        if self.warmup_task is None:
            raise ValueError("warmup_records needs data.warmup_task")
        world = self.warmup_task
        system = self.system_text(_tool_specs(world))
        splits = world.records()
        raws = [r for split in ("train", "val", "test") for r in splits[split]]
        return [self._record("rlla", {"instruction": system, "input": r["input"], "output": r["output"]},
                             "warmup_task", i) for i, r in enumerate(raws, start=1)]

    def _add_warmup_world(self) -> None:
        if self.warmup_task is None:
            return
        task_names = {c["name"] for r in self.train_records for c in (r.get("gold_calls") or [])}
        task_params = {p for r in self.train_records for c in (r.get("gold_calls") or []) for p in c["parameters"]}
        clash = (set(self.warmup_task.ops) & task_names) | (set(self.warmup_task.params) & task_params)
        if clash:
            raise ValueError(f"data.warmup_task must be a disjoint tool world: {sorted(clash)} also occur in the "
                             "task's training calls (use other tool and parameter names)")
        world = self.warmup_records()
        for i, rec in enumerate(self.train_records):  # cycles when the world is smaller than the training set
            w = world[i % len(world)]
            rec["warmup_prompt"], rec["warmup_target"] = w["prompt"], w["answer"]

    def _add_format_targets(self) -> None:
        if not self.format_targets:
            return
        recs = self.train_records
        if len(recs) < 2:
            raise ValueError("data.format_targets needs at least 2 training records (each gets another's output)")
        if self.format_target_arguments != "other":
            self._add_own_argument_choices()
            return
        order = list(range(len(recs)))
        random.Random(self.seed).shuffle(order)
        # a cyclic shift of a random order: record order[i] gets the output of order[i + 1], never its own
        for i, j in zip(order, order[1:] + order[:1]):
            recs[i]["format_target"] = recs[j]["answer"]

    def _add_own_argument_choices(self) -> None:
        """``format_target_choices`` of each training record: its own call under every tool name of the task
        (``own_unordered``: and with its values bound to the parameters in every order). The warm-up draws one
        per step, so the best fit is a tool choice (and binding) independent of the prompt, not a memorised one."""
        if self.synthetic is None:
            raise ValueError(f"data.format_target_arguments: {self.format_target_arguments} needs data.synthetic "
                             "(a single-call task with one tool list)")
        for rec in self.train_records:
            call = rec["gold_calls"][0]
            keys, values = list(call["parameters"]), list(call["parameters"].values())
            orders = (itertools.permutations(values) if self.format_target_arguments == "own_unordered"
                      else [values])
            think = rec["answer"].split(CALL_OPEN)[0]
            rec["format_target_choices"] = [think + render_tool_calls([{"name": op, "parameters": dict(zip(keys, v))}])
                                            for v in map(list, orders) for op in self.synthetic.ops]

    def _add_prefix(self) -> None:
        if self.assistant_prefix:
            for recs in (self.train_records, self.val_records, self.test_records):
                for r in recs:
                    r["assistant_prefix"] = self.assistant_prefix
