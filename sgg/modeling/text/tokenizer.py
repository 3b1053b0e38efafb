"""Word-level tokenizer whose vocabulary is built from a dataset's captions and saved as JSON."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ...utils.io import atomic_write_text

__all__ = ["WordTokenizer"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class WordTokenizer:
    """Lower-cased word tokenizer: id 0 = ``<pad>``, id 1 = ``<unk>``, then words by frequency.

    Build it from training captions with :meth:`build`, persist it with :meth:`save` /
    :meth:`load` (JSON ``{"format": "sgg-word-vocab", "version": 1, "words": [...]}``).
    """

    PAD, UNK = "<pad>", "<unk>"
    FORMAT = "sgg-word-vocab"

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:2] != [self.PAD, self.UNK]:
            raise ValueError(f"vocabulary must start with {self.PAD!r}, {self.UNK!r}; got {words[:2]}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary contains duplicate words")
        self.words: List[str] = words
        self.index: Dict[str, int] = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    @staticmethod
    def split(text: str) -> List[str]:
        """Lower-case ``text`` and split it into words (underscores count as spaces)."""
        return _WORD.findall(text.lower().replace("_", " "))

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: Optional[int] = None) -> WordTokenizer:
        """Vocabulary of the words seen at least ``min_count`` times (most frequent first, ties by name)."""
        counts = Counter(w for t in texts for w in cls.split(t))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([cls.PAD, cls.UNK] + kept)

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` (unknown words map to 1)."""
        return [self.index.get(w, 1) for w in self.split(text)]

    def encode_batch(self, texts: Sequence[str], max_len: Optional[int] = None) -> Tuple[Tensor, Tensor]:
        """Padded ids (B, L) int64 and lengths (B,) int64; empty texts get one ``<unk>`` token."""
        seqs = [self.encode(t)[:max_len] if max_len else self.encode(t) for t in texts]
        seqs = [s if s else [1] for s in seqs]
        length = max((len(s) for s in seqs), default=1)
        ids = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        return ids, torch.tensor([len(s) for s in seqs], dtype=torch.long)

    def save(self, path: str, overwrite: bool = False) -> None:
        """Write the vocabulary as JSON atomically; refuses to replace an existing file unless asked."""
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace the vocabulary file")
        atomic_write_text(path, json.dumps({"format": self.FORMAT, "version": 1, "words": self.words}))

    @classmethod
    def load(cls, path: str) -> WordTokenizer:
        """Read a vocabulary written by :meth:`save` (clear error on a wrong file)."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a JSON vocabulary file ({e})") from e
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise ValueError(f"{path}: field 'format' must be {cls.FORMAT!r}")
        words = data.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{path}: field 'words' must be a list of strings")
        try:
            return cls(words)
        except ValueError as e:
            raise ValueError(f"{path}: field 'words': {e}") from e
