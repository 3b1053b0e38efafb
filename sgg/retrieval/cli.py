"""Command line of ``tools/retrieve.py``: ``build`` a retrieval folder, ``query`` it."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

__all__ = ["build_parser", "main"]

_EPILOG = """\
Examples:
  index the test images with a trained model (image points = pooled relation points):
    $ tools/retrieve.py build --config-file cfg.yaml --dataset toy_test --index-dir out/index \\
        MODEL.WEIGHTS output/run/model_final.pth
  index an exported scene-graph file without images (text side of the model):
    $ tools/retrieve.py build --config-file cfg.yaml --scene-graphs scene_graphs.json --index-dir out/sg \\
        MODEL.WEIGHTS output/run/model_final.pth
  query:
    $ tools/retrieve.py query --index-dir out/index --text "red circle above blue square" --k 5
    $ tools/retrieve.py query --index-dir out/index --triplet red_circle above blue_square --json
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``build`` / ``query`` argument parser."""
    parser = argparse.ArgumentParser(prog="retrieve.py", epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Text-to-image retrieval over scene-graph embeddings.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="embed images (or a scene-graph file) and save an index folder")
    b.add_argument("--config-file", required=True, metavar="FILE", help="config of the trained model")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="registered split to index, e.g. toy_test (runs the model on its images)")
    src.add_argument("--scene-graphs", metavar="FILE.json", help="exported scene-graph file to index (no images)")
    b.add_argument("--index-dir", required=True, help="output folder (refused if it exists, see --overwrite)")
    b.add_argument("--kind", default="exact", choices=("exact", "approx", "cosine"),
                   help="exact Lorentz, approximate (tangent HNSW + exact re-rank) or cosine (Euclidean head)")
    b.add_argument("--top-k", type=int, default=100, help="--scene-graphs: triplets per image pooled")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --index-dir")
    b.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides, e.g. MODEL.WEIGHTS w.pth")
    q = sub.add_parser("query", help="rank the indexed images for a text or a triplet")
    q.add_argument("--index-dir", required=True)
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="free text (words of the caption vocabulary)")
    what.add_argument("--triplet", nargs=3, metavar=("SUBJ", "PRED", "OBJ"), help="class names of one triplet")
    q.add_argument("--k", type=int, default=10, help="number of results")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _build(args) -> int:
    from ..config import get_cfg
    from .service import build_from_dataset, build_from_scene_graphs

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts or []))
    cfg.freeze()
    if args.dataset:
        out = build_from_dataset(cfg, args.dataset, args.index_dir, args.kind, args.overwrite)
    else:
        out = build_from_scene_graphs(cfg, args.scene_graphs, args.index_dir, args.kind, args.overwrite, args.top_k)
    manifest = json.loads((out / "retrieval.json").read_text())
    print(f"indexed {manifest['count']} images ({manifest['index_kind']}, dim {manifest['dim']}, "
          f"curvature {manifest['curvature']:.4g}) -> {out}")
    return 0


def _query(args) -> int:
    from .service import RetrievalService

    service = RetrievalService.load(args.index_dir)
    if args.text is not None:
        result = service.query_text(args.text, args.k)
    else:
        result = service.query_triplet(*args.triplet, k=args.k)
    if result.unknown_words:
        print(f"warning: not in the caption vocabulary, ignored: {', '.join(result.unknown_words)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        for rank, (name, dist) in enumerate(result.hits, 1):
            print(f"{rank:3d}  {dist:10.4f}  {name}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` and run; user errors print ``error: ...`` and return 2."""
    args = build_parser().parse_args(argv)
    try:
        return _build(args) if args.command == "build" else _query(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        return 2
