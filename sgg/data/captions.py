"""Image captions of a dataset folder (``captions.json``) and the caption vocabulary built from them.

``captions.json`` maps an image key to a list of sentences::

    {"2343": ["a man riding a horse.", "a horse on a beach."], "2344": [...]}

The key is ``str(image_id)`` for VG-150 (the ``image_id`` of ``image_data.json``) and the
``img_fn`` (file stem) for OI-V6. Images without an entry get no caption; entries for images
outside the loaded split are ignored.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Sequence, Tuple

from ..structures.scene_graph import SceneGraphRecord
from .errors import DatasetFormatError

__all__ = ["load_captions", "attach_captions", "build_caption_vocabulary"]


def load_captions(path: str) -> Dict[str, Tuple[str, ...]]:
    """Read and validate a ``captions.json`` file: ``{key: [sentence, ...]}``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetFormatError(path, "(file)", "an existing captions file", "missing") from None
    except json.JSONDecodeError as err:
        raise DatasetFormatError(path, "(file)", "valid JSON", str(err)) from None
    if not isinstance(data, dict):
        raise DatasetFormatError(path, "(top level)", "an object {image key: [sentences]}", type(data).__name__)
    out: Dict[str, Tuple[str, ...]] = {}
    for key, sentences in data.items():
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise DatasetFormatError(path, str(key), "a list of sentences (strings)", f"{sentences!r:.80}")
        out[str(key)] = tuple(sentences)
    return out


def attach_captions(records: Sequence[SceneGraphRecord], captions: Dict[str, Tuple[str, ...]],
                    keys: Sequence[str]) -> None:
    """Set ``record.captions`` in place from ``captions[key]`` (``keys`` parallel to ``records``)."""
    if len(keys) != len(records):
        raise ValueError(f"attach_captions: {len(records)} records but {len(keys)} keys")
    for record, key in zip(records, keys):
        record.captions = tuple(captions.get(key, ()))


def captions_from_folder(root: str, records: Sequence[SceneGraphRecord], keys: Sequence[str],
                         file_name: str = "captions.json") -> None:
    """Attach ``<root>/<file_name>`` captions to ``records`` when that file exists (else leave them empty)."""
    path = os.path.join(root, file_name)
    if os.path.isfile(path):
        attach_captions(records, load_captions(path), keys)


def build_caption_vocabulary(records: Iterable[SceneGraphRecord], min_count: int = 1, max_size: int | None = None,
                             source: str = "the records"):
    """A :class:`~sgg.modeling.text.WordTokenizer` over the captions of ``records`` (the TRAINING split).

    Raises a ValueError naming ``source`` when no record has a caption.
    """
    from ..modeling.text import WordTokenizer

    texts: List[str] = [c for r in records for c in r.captions]
    if not texts:
        raise ValueError(f"{source}: no image has a caption (is there a captions.json in the dataset folder?); "
                         f"graph-level retrieval needs training captions")
    return WordTokenizer.build(texts, min_count=min_count, max_size=max_size)
