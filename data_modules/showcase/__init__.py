"""Seeded generators of the showcase tasks: small worlds a tiny model can learn on CPU in minutes (issue 18)."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def generator_main(write: Callable[[Path, int], object], default_out: Path, doc: str | None,
                   argv: list[str] | None = None) -> int:
    """The command line every generator shares: ``--out DIR --seed N`` -> ``write(out, seed)``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write(args.out, args.seed)
    return 0


def jsonl_text(rows: list[dict]) -> str:
    """Records as JSON lines (UTF-8 kept as is), the bundled files' format."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
