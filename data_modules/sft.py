"""Prompt/response or chat-message records for supervised fine-tuning."""

from __future__ import annotations

from typing import Literal

from data_modules.base import RecordsDataModule, split_records
from data_modules.io import read_records, samples_dir
from lit_agents.fileio import DataError


def normalise_sft_record(rec: dict, *, prompt_field: str, response_field: str, messages_field: str,
                         path: str, line: int) -> dict:
    """``{prompt, response}``; a chat record's last assistant turn is the response, the turns before it the
    prompt (a list of messages)."""
    if messages_field in rec and rec[messages_field] is not None:
        msgs = rec[messages_field]
        if not isinstance(msgs, list) or not msgs:
            raise DataError("expected a non-empty list of messages", path=path, line=line, field=messages_field)
        for j, m in enumerate(msgs):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise DataError(f"message {j} needs string 'role' and 'content'", path=path, line=line,
                                field=messages_field)
        if msgs[-1]["role"] != "assistant" or not msgs[-1]["content"].strip():
            raise DataError("the last message must be a non-empty assistant turn", path=path, line=line,
                            field=messages_field)
        if len(msgs) < 2:
            raise DataError("a chat record needs at least one turn before the assistant's", path=path, line=line,
                            field=messages_field)
        return {"prompt": msgs[:-1], "response": msgs[-1]["content"]}
    for key in (prompt_field, response_field):
        val = rec.get(key)
        if not isinstance(val, str) or not val.strip():
            why = "missing required field" if val is None else f"expected a non-empty string, got {type(val).__name__}"
            raise DataError(why, path=path, line=line, field=key)
    return {"prompt": rec[prompt_field], "response": rec[response_field]}


def load_sft_records(path: str, *, prompt_field: str = "prompt", response_field: str = "response",
                     messages_field: str = "messages", on_error: Literal["raise", "skip"] = "raise",
                     split: str | None = None) -> list[dict]:
    def transform(rec: dict, src: str, line: int) -> dict:
        return normalise_sft_record(rec, prompt_field=prompt_field, response_field=response_field,
                                    messages_field=messages_field, path=src, line=line)

    return read_records(path, split=split, on_error=on_error, name="SFT records", transform=transform)


class SFTDataModule(RecordsDataModule):
    """SFT data from json/jsonl/csv/parquet files or a hub dataset name (via ``datasets``).

    Without ``val_file``, ``val_fraction`` of the training records are held out (seeded).

    Args:
        train_file: training records: a json/jsonl/csv/parquet file or a hub dataset name (default: the bundled
            OBQA rationales).
        val_file: validation records (default: ``val_fraction`` of the training records).
        test_file: test records.
        val_fraction: fraction of training records held out when there is no ``val_file``.
        prompt_field: record field holding the prompt.
        response_field: record field holding the response.
        messages_field: record field holding chat messages (used instead of prompt/response when present).
        on_error: ``raise`` on the first bad record, or ``skip`` it and count it.
        max_train_records: keep at most this many training records.
        batch_size: training records per batch per rank.
        eval_batch_size: validation/test records per batch per rank (default: ``batch_size``).
        num_workers: dataloader worker processes.
        seed: seed of the shuffling and of seeded splits.
    """

    def __init__(self, train_file: str | None = None, val_file: str | None = None, test_file: str | None = None,
                 val_fraction: float = 0.1, prompt_field: str = "prompt", response_field: str = "response",
                 messages_field: str = "messages", on_error: Literal["raise", "skip"] = "raise",
                 max_train_records: int | None = None, batch_size: int = 8, eval_batch_size: int | None = None,
                 num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        self.train_file = train_file or str(samples_dir() / "sft" / "obqa_rationales.jsonl")
        self.val_file, self.test_file, self.val_fraction = val_file, test_file, val_fraction
        self.fields = dict(prompt_field=prompt_field, response_field=response_field, messages_field=messages_field)
        self.on_error, self.max_train_records = on_error, max_train_records

    def _load(self, path: str) -> list[dict]:
        return load_sft_records(path, on_error=self.on_error, **self.fields)

    def setup(self, stage: str | None = None) -> None:
        records = self._load(self.train_file)
        if self.val_file:
            train, val = records, self._load(self.val_file)
        else:
            train, val = split_records(records, self.val_fraction, self.seed)
        if self.max_train_records is not None:
            train = train[: self.max_train_records]
        self.train_records, self.val_records = train, val
        self.test_records = self._load(self.test_file) if self.test_file else val
