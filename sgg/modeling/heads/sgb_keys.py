"""Renaming SGB predictor checkpoints into the toolkit's head state dicts.

Each SGB predictor's key map lives next to its head as a function ``sgb_state -> head state``
(``sgb_state`` = SGB's ``roi_heads.relation.predictor.*`` tensors with that prefix removed) built
on :func:`rename_sgb_keys`; the checkpoint converter looks the function up by SGB's predictor
name (:data:`SGB_KEY_MAPS`). Loading the result with ``strict=True`` then checks names and shapes.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from torch import Tensor

__all__ = ["rename_sgb_keys", "SGB_KEY_MAPS", "register_sgb_key_map", "sgb_head_state"]

#: SGB predictor name -> function(SGB predictor state) -> toolkit head state
SGB_KEY_MAPS: Dict[str, Callable[[Mapping[str, Tensor]], Dict[str, Tensor]]] = {}


def register_sgb_key_map(sgb_predictor: str):
    """Decorator registering a key map under SGB's ``MODEL.ROI_RELATION_HEAD.PREDICTOR`` name."""

    def deco(fn):
        if sgb_predictor in SGB_KEY_MAPS:
            raise KeyError(f"an SGB key map for {sgb_predictor!r} is already registered")
        SGB_KEY_MAPS[sgb_predictor] = fn
        return fn

    return deco


def rename_sgb_keys(
    state: Mapping[str, Tensor], rules: Sequence[Tuple[str, Optional[str]]], what: str
) -> Dict[str, Tensor]:
    """Rename keys by the first matching prefix rule ``(sgb_prefix, toolkit_prefix)``.

    A rule whose toolkit prefix is None drops the matching keys (tensors SGB keeps but never uses).
    A key that no rule matches is an error naming it (``what`` says which predictor).
    """
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        for src, dst in rules:
            if key.startswith(src):
                if dst is not None:
                    out[dst + key[len(src):]] = value
                break
        else:
            raise KeyError(f"{what}: SGB key {key!r} has no counterpart in the toolkit's head")
    return out


def sgb_head_state(sgb_predictor: str, state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The toolkit head state of an SGB predictor's state (keys without ``roi_heads.relation.predictor.``)."""
    if sgb_predictor not in SGB_KEY_MAPS:
        raise KeyError(f"no SGB key map for predictor {sgb_predictor!r}; known: {sorted(SGB_KEY_MAPS)}")
    return SGB_KEY_MAPS[sgb_predictor](state)
