"""Rebuild the real-data excerpts under tests/data/ from ../shared/data (deterministic: the first records of
each published file, content unchanged). Run from the repo root: ``python tests/data/make_samples.py``.
See tests/data/SOURCE.md for origins and licences."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent


def head_lines(src: Path, dst: Path, n: int, *, gz: bool = False) -> None:
    opener = gzip.open if gz else open
    with opener(src, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    if gz:  # mtime=0: the same bytes on every rebuild
        with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
            g.write("".join(lines).encode("utf-8"))
    else:
        dst.write_text("".join(lines), encoding="utf-8")


def write_json(dst: Path, obj) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    head_lines(SHARED / "hh_rlhf_harmless_base/test.jsonl.gz", OUT / "hh_rlhf_harmless_base/test_head5.jsonl.gz", 5,
               gz=True)
    task = json.loads((SHARED / "bigbench_truthful_qa/task_mc.json").read_text(encoding="utf-8"))
    write_json(OUT / "bigbench_truthful_qa/task_mc_head5.json", {**task, "examples": task["examples"][:5]})
    head_lines(SHARED / "openbookqa/openbookqa.jsonl", OUT / "openbookqa/openbookqa_head5.jsonl", 5)
    arc = json.loads((SHARED / "arc_llm_adapters/ARC-Challenge_test.json").read_text(encoding="utf-8"))
    write_json(OUT / "arc_llm_adapters/ARC-Challenge_test_head5.json", arc[:5])
    head_lines(SHARED / "arc_llm_adapters/ARC-Challenge_test.structured.jsonl",
               OUT / "arc_llm_adapters/ARC-Challenge_test_head5.structured.jsonl", 5)
    head_lines(SHARED / "piqa/valid.jsonl", OUT / "piqa/valid_head5.jsonl", 5)
    head_lines(SHARED / "piqa/valid-labels.lst", OUT / "piqa/valid-labels_head5.lst", 5)
    # PubMedQA: the first 10 official test ids and the first 10 other ids, in the file's order
    pqal = json.loads((SHARED / "pubmedqa/ori_pqal.json").read_text(encoding="utf-8"))
    truth = json.loads((SHARED / "pubmedqa/test_ground_truth.json").read_text(encoding="utf-8"))
    test_ids = [k for k in pqal if k in truth][:10]
    other = [k for k in pqal if k not in truth][:10]
    keep = [k for k in pqal if k in set(test_ids) | set(other)]
    write_json(OUT / "pubmedqa/ori_pqal_head20.json", {k: pqal[k] for k in keep})
    write_json(OUT / "pubmedqa/test_ground_truth_head10.json", {k: truth[k] for k in test_ids})


if __name__ == "__main__":
    main()
