#!/usr/bin/env python
"""Write docs/config_reference.md from sgg.config.get_cfg() and the keys' one-line source comments.

python tools/dump_config_reference.py            # (re)write docs/config_reference.md
python tools/dump_config_reference.py --check    # exit 1 if the committed page is out of date
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a source checkout

from sgg.config.reference import render_config_reference  # noqa: E402
from sgg.utils.io import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    """Render the page; write it, or with ``--check`` compare it with the file. Returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out", default=os.path.join(ROOT, "docs", "config_reference.md"), help="the page to write"
    )
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 when --out differs")
    args = ap.parse_args(argv)
    text = render_config_reference()
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.out} is out of date: run python tools/dump_config_reference.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    atomic_write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
