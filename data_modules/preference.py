"""Preference pairs for generative reward models (RM-R1): hh-rlhf dialogues, RM-Bench, or plain pair files,
rendered with the Chain-of-Rubrics (CoR) prompt.

Training records alternate the chosen answer between slots A and B by pair index (even → A), as the released
data script does; evaluation records present every pair in both orders (``order`` = ``chosen_A`` /
``chosen_B``) so accuracy per order exposes position bias. A record is
``{prompt: [system, user] messages | text, label: "A"|"B", pair_id, order, category}``.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_modules import rm_bench
from data_modules.base import RecordsDataModule
from data_modules.io import SkipCounter, read_records, samples_dir
from lit_agents.fileio import DataError
from lit_agents.prompts import load_prompt
from lit_agents.rewards import normalise_label

Format = Literal["auto", "hh_rlhf", "rm_bench", "pairs", "rendered"]
# RewardBench-style category names by source domain, as word sequences of a file name; the longer key wins
# ("chat hard" before "chat"), so chat_hard.jsonl, chat-hard.jsonl, ChatHard.json are all Chat-Hard.
_CATEGORY = {("chat", "hard"): "Chat-Hard", ("chathard",): "Chat-Hard", ("chat",): "Chat", ("safety",): "Safety",
             ("reasoning",): "Reasoning", ("code",): "Reasoning", ("math",): "Reasoning",
             ("harmless",): "Safety", ("helpful",): "Chat"}


def category_from_name(name: str) -> str | None:
    """The RewardBench category a file name names (its words split at ``_ - . space``), longest key first."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    for key in sorted(_CATEGORY, key=len, reverse=True):
        if any(tuple(words[i:i + len(key)]) == key for i in range(len(words) - len(key) + 1)):
            return _CATEGORY[key]
    return None


@dataclass
class PreferenceSource:
    """One preference file (json/jsonl/jsonl.gz/csv/parquet) or hub dataset.

    ``format``: ``hh_rlhf`` (``chosen``/``rejected`` full ``\\n\\nHuman:``/``\\n\\nAssistant:`` dialogues),
    ``rm_bench`` (``prompt`` + lists of 3 ``chosen`` / 3 ``rejected`` styles, paired index by index;
    read by :mod:`data_modules.rm_bench`),
    ``pairs`` (``prompt`` or ``conversation`` messages, ``chosen``, ``rejected`` as strings or as full chat
    message lists, optional ``category``), ``rendered`` (the released RLVR data: ``context_messages`` already
    in CoR form + ``winner`` = ``model_a``/``model_b``; one order only); ``auto`` guesses from the first record.
    ``category`` overrides the record's; ``limit`` keeps the first N pairs.
    """

    path: str
    format: Format = "auto"
    category: str | None = None
    limit: int | None = None
    split: str | None = None


def parse_hh_dialogue(text: str, *, path: str, line: int, field: str) -> list[dict[str, str]]:
    """``"\\n\\nHuman: …\\n\\nAssistant: …"`` → chat messages (user/assistant)."""
    parts = text.split("\n\nHuman: ")
    if parts[0].strip():
        raise DataError("dialogue must start with '\\n\\nHuman: '", path=path, line=line, field=field)
    msgs: list[dict[str, str]] = []
    for turn in parts[1:]:
        human, sep, rest = turn.partition("\n\nAssistant:")
        msgs.append({"role": "user", "content": human.strip()})
        if sep:
            msgs.append({"role": "assistant", "content": rest.strip()})
    if len(msgs) < 2 or msgs[-1]["role"] != "assistant":
        raise DataError("dialogue must end with an Assistant turn", path=path, line=line, field=field)
    return msgs


def _hh_pair(rec: dict, path: str, line: int) -> list[dict]:
    for key in ("chosen", "rejected"):
        if not isinstance(rec.get(key), str):
            raise DataError(f"expected an hh dialogue string, got {type(rec.get(key)).__name__}", path=path,
                            line=line, field=key)
    chosen = parse_hh_dialogue(rec["chosen"], path=path, line=line, field="chosen")
    rejected = parse_hh_dialogue(rec["rejected"], path=path, line=line, field="rejected")
    if chosen[:-1] != rejected[:-1]:
        raise DataError("chosen and rejected do not share the dialogue before the last turn", path=path, line=line,
                        field="rejected")
    return [{"conversation": chosen[:-1], "chosen": chosen[-1]["content"], "rejected": rejected[-1]["content"]}]


def _rm_bench_pairs(rec: dict, path: str, line: int) -> list[dict]:
    return rm_bench.style_pairs(rm_bench.read_item(rec, path, line))


def _is_messages(val: Any) -> bool:
    return isinstance(val, list) and bool(val) and all(isinstance(m, dict) for m in val)


def _chat_pair(rec: dict, path: str, line: int) -> list[dict]:
    """``chosen``/``rejected`` as full conversations that differ only in the last assistant turn."""
    for f in ("chosen", "rejected"):
        msgs = rec[f]
        if not all(isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs) \
                or msgs[-1]["role"] != "assistant":
            raise DataError("expected chat messages ending with an assistant turn", path=path, line=line, field=f)
    if rec["chosen"][:-1] != rec["rejected"][:-1]:
        raise DataError("chosen and rejected do not share the dialogue before the last turn", path=path, line=line,
                        field="rejected")
    return [{"conversation": rec["chosen"][:-1], "chosen": rec["chosen"][-1]["content"],
             "rejected": rec["rejected"][-1]["content"]}]


def _plain_pair(rec: dict, path: str, line: int) -> list[dict]:
    if _is_messages(rec.get("chosen")) and _is_messages(rec.get("rejected")):
        return _chat_pair(rec, path, line)
    if isinstance(rec.get("conversation"), list):
        conv = rec["conversation"]
        for j, m in enumerate(conv):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise DataError(f"message {j} needs string 'role' and 'content'", path=path, line=line,
                                field="conversation")
    elif isinstance(rec.get("prompt"), str) and rec["prompt"].strip():
        conv = [{"role": "user", "content": rec["prompt"]}]
    else:
        raise DataError("need a non-empty 'prompt' string or a 'conversation' list", path=path, line=line,
                        field="prompt")
    for f in ("chosen", "rejected"):
        if not isinstance(rec.get(f), str) or not rec[f].strip():
            raise DataError("expected a non-empty string", path=path, line=line, field=f)
    return [{"conversation": conv, "chosen": rec["chosen"], "rejected": rec["rejected"]}]


def _rendered(rec: dict, path: str, line: int) -> list[dict]:
    if not _is_messages(rec.get("context_messages")):
        raise DataError("expected a list of chat messages", path=path, line=line, field="context_messages")
    try:
        label = normalise_label(str(rec.get("winner")))
    except ValueError as e:
        raise DataError(str(e), path=path, line=line, field="winner") from None
    return [{"rendered": rec["context_messages"], "label": label}]


def _detect(rec: dict) -> str:
    if isinstance(rec.get("chosen"), str) and rec["chosen"].startswith("\n\nHuman:"):
        return "hh_rlhf"
    if "context_messages" in rec and "winner" in rec:
        return "rendered"
    if isinstance(rec.get("chosen"), list) and not _is_messages(rec["chosen"]):
        return "rm_bench"
    return "pairs"


def _materialise_gz(path: Path) -> Path:
    """Decompress ``x.jsonl.gz`` into the temp dir once so the line-numbered jsonl reader can read it."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / "lit_agents_gz" / f"{digest}_{path.stem}"
    if not out.exists() or out.stat().st_mtime < path.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out


def _default_category(src: PreferenceSource, fmt: str) -> str | None:
    if src.category:
        return src.category
    name = category_from_name(Path(src.path).name)
    if name:
        return name
    return "Safety" if fmt == "hh_rlhf" and "harmless" in str(src.path).lower() else None


def load_pairs(src: PreferenceSource, *, on_error: Literal["raise", "skip"] = "raise") -> list[dict]:
    """Normalised pairs ``{conversation, chosen, rejected, category, pair_id}`` from one source."""
    path = Path(src.path)
    read_path = _materialise_gz(path) if path.suffix == ".gz" and path.exists() else path
    skips = SkipCounter("preference pairs")
    fmt_box: dict[str, str] = {}

    def transform(rec: dict, where: str, line: int) -> dict:
        fmt = src.format if src.format != "auto" else fmt_box.setdefault("fmt", _detect(rec))
        fn = {"hh_rlhf": _hh_pair, "rm_bench": _rm_bench_pairs, "pairs": _plain_pair, "rendered": _rendered}[fmt]
        fmt_box["fmt"] = fmt
        return {"pairs": fn(rec, str(src.path), line), "category": rec.get("category"), "line": line}

    rows = read_records(str(read_path), split=src.split, on_error=on_error, name="preference pairs",
                        skips=skips, transform=transform)
    default_cat = _default_category(src, fmt_box.get("fmt", src.format))
    out: list[dict] = []
    for row in rows[: src.limit] if src.limit is not None else rows:
        for k, p in enumerate(row["pairs"]):
            cat = src.category or (row["category"] if isinstance(row["category"], str) else None) or default_cat
            out.append({**p, "category": cat or "all", "pair_id": f"{path.name}:{row['line']}:{k}"})
    return out


def render_conversation(conv: list[dict[str, str]], final: str, name: str) -> str:
    """Multi-turn rendering of the released code: ``User: …`` / ``Chatbot A: …`` lines."""
    lines = [f"{'User' if m['role'] == 'user' else name}: {m['content']}" for m in conv]
    return "\n".join(lines + [f"{name}: {final}"])


def render_cor_prompt(pair: dict, chosen_first: bool, *, system_prompt: str, max_response_chars: int | None = None,
                      prompt_format: Literal["messages", "text"] = "messages") -> tuple[Any, str]:
    """(prompt, label) for one presentation order; single-turn pairs use the [Client Question] template,
    multi-turn ones the conversation template."""
    cut = (lambda s: s[:max_response_chars]) if max_response_chars else (lambda s: s)  # noqa: E731
    a, b = (pair["chosen"], pair["rejected"]) if chosen_first else (pair["rejected"], pair["chosen"])
    conv = pair["conversation"]
    if len(conv) == 1 and conv[0]["role"] == "user":
        user = load_prompt("rm_r1_cor_user").format(question=cut(conv[0]["content"]), answer_a=cut(a),
                                                    answer_b=cut(b))
    else:
        conv = [{"role": m["role"], "content": cut(m["content"])} for m in conv]
        user = load_prompt("rm_r1_cor_user_multi").format(
            conversation_a=render_conversation(conv, cut(a), "Chatbot A"),
            conversation_b=render_conversation(conv, cut(b), "Chatbot B"))
    label = "A" if chosen_first else "B"
    if prompt_format == "text":
        return f"{system_prompt}\n\n{user}", label
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}], label


def build_records(pairs: list[dict], *, both_orders: bool, **render: Any) -> list[dict]:
    """Training (alternating A/B by index) or evaluation (both orders) records."""
    out = []
    for i, p in enumerate(pairs):
        if "rendered" in p:  # already rendered by the released data script: its one order only
            out.append({"prompt": p["rendered"], "label": p["label"], "pair_id": p["pair_id"],
                        "order": f"chosen_{p['label']}", "category": p["category"]})
            continue
        orders = (True, False) if both_orders else (i % 2 == 0,)
        for first in orders:
            prompt, label = render_cor_prompt(p, first, **render)
            out.append({"prompt": prompt, "label": label, "pair_id": p["pair_id"],
                        "order": "chosen_A" if first else "chosen_B", "category": p["category"]})
    return out


class PreferenceDataModule(RecordsDataModule):
    """CoR-rendered preference pairs for GRPO training (``train``) and pairwise evaluation (``val``/``test``).

    Args:
        train / val / test: lists of :class:`PreferenceSource`; ``train``/``val`` default to the bundled
            hh-rlhf harmless-base samples, ``test`` to ``val``. Give ``[]`` to disable a split.
        system_prompt: prompt template name under ``lit_agents/prompts`` (``rm_r1_cor_system`` = released CoR).
        max_response_chars: cut each response and question to this many characters (tiny CPU defaults).
        prompt_format: ``messages`` (system + user turns, for chat templates) or ``text`` (one string, e.g. for
            encoder-decoder policies without a chat template).
        on_error: ``raise`` on the first bad record, or ``skip`` and count.
        train: training preference sources (default: the bundled hh-rlhf harmless-base pairs; ``[]`` = none).
        val: validation sources (default: the bundled val pairs; ``[]`` = none).
        test: test sources (default: ``val``).
        batch_size: training records per batch per rank.
        eval_batch_size: validation/test records per batch per rank (default: ``batch_size``).
        num_workers: dataloader worker processes.
        seed: seed of the shuffling and of seeded splits.
    """

    def __init__(self, train: list[PreferenceSource] | None = None, val: list[PreferenceSource] | None = None,
                 test: list[PreferenceSource] | None = None, system_prompt: str = "rm_r1_cor_system",
                 max_response_chars: int | None = None, prompt_format: Literal["messages", "text"] = "messages",
                 on_error: Literal["raise", "skip"] = "raise", batch_size: int = 4,
                 eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        bundled = samples_dir() / "rm_r1"
        if train is None:
            train = [PreferenceSource(str(bundled / "hh_harmless_train.jsonl"))]
        if val is None:
            val = [PreferenceSource(str(bundled / "hh_harmless_val.jsonl"))]
        self.sources = {"train": list(train), "val": list(val), "test": list(test or val)}
        self.render = dict(system_prompt=load_prompt(system_prompt), max_response_chars=max_response_chars,
                           prompt_format=prompt_format)
        self.on_error = on_error

    def load(self, split: str) -> list[dict]:
        pairs = load_sources(self.sources[split], on_error=self.on_error)
        return build_records(pairs, both_orders=split != "train", **self.render)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.train_records = self.load("train")
        if stage in (None, "fit", "validate"):
            self.val_records = self.load("val")
            if self.sources["val"] and not self.val_records:
                raise DataError("no validation pairs were loaded", path=str(self.sources["val"][0]))
        if stage in (None, "test"):
            self.test_records = self.load("test")

    def val_dataloader(self):
        return self._loader(self.val_records, train=False) if self.val_records else []


def load_sources(sources: list[PreferenceSource | dict], *, on_error: Literal["raise", "skip"] = "raise") -> list[dict]:
    """Pairs of several sources; pair ids (``<file name>:<line>:<k>``) must be unique across them, because
    evaluation de-duplicates judgments by (pair id, order)."""
    pairs = [p for src in sources for p in load_pairs(_src(src), on_error=on_error)]
    seen: set[str] = set()
    for p in pairs:
        if p["pair_id"] in seen:
            raise DataError("two preference sources share a file name, so their pair ids collide; rename one",
                            path=p["pair_id"].split(":")[0])
        seen.add(p["pair_id"])
    return pairs


def _src(s: PreferenceSource | dict) -> PreferenceSource:
    return s if isinstance(s, PreferenceSource) else PreferenceSource(**s)
