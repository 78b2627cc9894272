"""Seeded generators of the showcase tasks: small worlds a tiny model can learn on CPU in minutes (issue 18)."""
from __future__ import annotations

import argparse
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
