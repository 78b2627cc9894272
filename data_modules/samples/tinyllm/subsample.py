"""Rebuild this folder from the full TinyLLM release: ``python subsample.py <release_root>``.

Keeps a seeded subset of each split and the rationale strings at the same positions, so the bundled files
are still paired by position like the originals (train rationales only: the student never sees the others).
"""

import json
import random
import sys
from pathlib import Path

COUNTS = {"train": 80, "valid": 40, "test": 40}
SEED = 0


def _load(p: Path) -> list:
    text = p.read_text(encoding="utf-8").strip()
    return json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]


def main(root: Path, out: Path) -> None:
    for ds in ("obqa", "arc", "riddle"):
        (out / ds / "llm").mkdir(parents=True, exist_ok=True)
        for split, n in COUNTS.items():
            recs = _load(root / ds / f"{ds}_{split}.json")
            keep = sorted(random.Random(f"{SEED}:{ds}:{split}").sample(range(len(recs)), n))
            with open(out / ds / f"{ds}_{split}.json", "w", encoding="utf-8") as f:
                f.write("\n".join(json.dumps(recs[i], ensure_ascii=False) for i in keep) + "\n")
            if split == "train":
                files = sorted((root / ds / "llm").glob("train_CoT_*.json"), key=lambda p: int(p.stem.split("_")[-1]))
                cots = [s for p in files for s in json.loads(p.read_text(encoding="utf-8"))]
                (out / ds / "llm" / "train_CoT_0.json").write_text(
                    json.dumps([cots[i] for i in keep], ensure_ascii=False, indent=0), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)
