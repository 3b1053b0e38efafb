#!/usr/bin/env python
"""Build and query text-to-image retrieval indexes: see ``python tools/retrieve.py --help``.

    python tools/retrieve.py build --config-file cfg.yaml --dataset toy_test --index-dir out/idx MODEL.WEIGHTS w.pth
    python tools/retrieve.py query --index-dir out/idx --text "red circle above blue square" --k 10
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.retrieval.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
