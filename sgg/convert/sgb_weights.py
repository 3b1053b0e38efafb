"""Map the tensors of an SGB checkpoint onto this toolkit's model.

SGB (maskrcnn-benchmark) saves ``{"model": state_dict, ...}``, possibly with a ``module.`` prefix
from (Distributed)DataParallel. Its keys fall into four groups, each mapped by prefix:

====================================================  ==========================================
SGB                                                   toolkit
====================================================  ==========================================
``backbone.*``, ``rpn.anchor_generator.*``,           ``detector.backbone.*``, ``detector.rpn.*``
``rpn.head.*``
``roi_heads.box.feature_extractor.*``                 ``detector.box_head.*``
``roi_heads.box.predictor.*``                         ``detector.box_predictor.*``
``roi_heads.relation.box_feature_extractor.*``        ``obj_feature_extractor.box_head.*``
``roi_heads.relation.union_feature_extractor.``       ``union_feature_extractor.pooler.*`` /
``feature_extractor.{pooler,fc6,fc7}.*``              ``union_feature_extractor.box_head.*``
``roi_heads.relation.union_feature_extractor.``       ``union_feature_extractor.mask_encoder.layers.*``
``rect_conv.*``
``roi_heads.relation.predictor.*``                    ``relation_head.*`` through the predictor's key
                                                      map (:mod:`sgg.modeling.heads.sgb_keys`)
====================================================  ==========================================

:func:`convert_sgb_state` maps a whole checkpoint strictly (an unknown SGB key, a toolkit key left
without a value, or a shape difference is an error listing all of them). :func:`sgb_init_state`
is the partial start: it maps what the checkpoint has and, as SGB's ``relation_train_net.py``
does with ``load_mapping``, initialises the relation stage's box and union feature extractors from
the detector's box head when the checkpoint has no relation head.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from sgg.modeling.heads.sgb_keys import SGB_KEY_MAPS, sgb_head_state

__all__ = [
    "SGBWeightsError",
    "MappingReport",
    "read_sgb_checkpoint",
    "is_relation_checkpoint",
    "convert_sgb_state",
    "sgb_init_state",
    "SGB_PREFIX_RULES",
    "LOAD_MAPPING",
]

PREDICTOR_PREFIX = "roi_heads.relation.predictor."

# (SGB prefix, toolkit prefix); the first matching rule wins
SGB_PREFIX_RULES: Tuple[Tuple[str, str], ...] = (
    ("backbone.", "detector.backbone."),
    ("rpn.anchor_generator.cell_anchors.", "detector.rpn.anchor_generator.cell_anchors."),
    ("rpn.head.", "detector.rpn.head."),
    ("roi_heads.box.feature_extractor.", "detector.box_head."),
    ("roi_heads.box.predictor.", "detector.box_predictor."),
    ("roi_heads.relation.box_feature_extractor.", "obj_feature_extractor.box_head."),
    ("roi_heads.relation.union_feature_extractor.feature_extractor.pooler.", "union_feature_extractor.pooler."),
    ("roi_heads.relation.union_feature_extractor.feature_extractor.", "union_feature_extractor.box_head."),
    ("roi_heads.relation.union_feature_extractor.rect_conv.", "union_feature_extractor.mask_encoder.layers."),
    ("roi_heads.relation.union_feature_extractor.spatial_fc.", "union_feature_extractor.spatial_fc."),
)

# SGB's load_mapping: toolkit prefix initialised from this SGB prefix when the checkpoint lacks it
LOAD_MAPPING: Tuple[Tuple[str, str], ...] = (
    ("obj_feature_extractor.box_head.", "roi_heads.box.feature_extractor."),
    ("union_feature_extractor.box_head.", "roi_heads.box.feature_extractor."),
)


class SGBWeightsError(ValueError):
    """An SGB checkpoint that does not fit the model built from the converted config."""


@dataclass
class MappingReport:
    """What was mapped: per rule ``(SGB prefix, toolkit prefix, tensors, parameters)``."""

    rows: List[Tuple[str, str, int, int]] = field(default_factory=list)
    left_random: List[str] = field(default_factory=list)

    def add(self, src: str, dst: str, value: Tensor) -> None:
        for i, (s, d, n, p) in enumerate(self.rows):
            if (s, d) == (src, dst):
                self.rows[i] = (s, d, n + 1, p + value.numel())
                return
        self.rows.append((src, dst, 1, value.numel()))

    def format(self) -> str:
        """A table of the mapped prefixes (and what was left at its initial value)."""
        width = max([len(s) + 1 for s, *_ in self.rows] + [10])
        dst_width = max([len(d) + 1 for _, d, *_ in self.rows] + [10])
        lines = [f"{'SGB':<{width}}  ->  {'toolkit':<{dst_width}}  tensors  parameters"]
        for s, d, n, p in self.rows:
            lines.append(f"{s + '*':<{width}}  ->  {d + '*':<{dst_width}}  {n:>7}  {p / 1e6:>8.2f} M")
        if self.left_random:
            lines.append(f"left at their initial values ({len(self.left_random)}): " + ", ".join(self.left_random[:12])
                         + (" ..." if len(self.left_random) > 12 else ""))
        return "\n".join(lines)


def read_sgb_checkpoint(path: str) -> Dict[str, Tensor]:
    """The state dict of an SGB/maskrcnn-benchmark checkpoint file (``weights_only=True``).

    Accepts ``{"model": state_dict, ...}`` (what SGB's checkpointer writes) or a bare state dict;
    strips a ``module.`` prefix that every key carries.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--weights: SGB checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors of all kinds
        raise SGBWeightsError(f"{path}: cannot be read with torch.load(weights_only=True): {e}") from None
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        data = data["model"]
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, Tensor) for v in data.values()):
        raise SGBWeightsError(
            f"{path}: expected SGB's {{'model': state_dict, ...}} or a state dict of tensors"
        )
    keys = list(data)
    if all(k.startswith("module.") for k in keys):
        return {k[len("module."):]: v for k, v in data.items()}
    return dict(data)


def is_relation_checkpoint(state: Mapping[str, Tensor]) -> bool:
    """True when the checkpoint has a relation head (``roi_heads.relation.*``)."""
    return any(k.startswith("roi_heads.relation.") for k in state)


def _rename(key: str) -> Optional[Tuple[str, str, str]]:
    for src, dst in SGB_PREFIX_RULES:
        if key.startswith(src):
            return src, dst, dst + key[len(src):]
    return None


def _predictor_state(state: Mapping[str, Tensor], predictor: str) -> Dict[str, Tensor]:
    sub = {k[len(PREDICTOR_PREFIX):]: v for k, v in state.items() if k.startswith(PREDICTOR_PREFIX)}
    if not sub:
        return {}
    if predictor not in SGB_KEY_MAPS:
        raise SGBWeightsError(
            f"no key map for SGB predictor {predictor!r} (MODEL.ROI_RELATION_HEAD.PREDICTOR); "
            f"known: {sorted(SGB_KEY_MAPS)}"
        )
    try:
        head = sgb_head_state(predictor, sub)
    except KeyError as e:
        raise SGBWeightsError(str(e.args[0] if e.args else e)) from None
    return {"relation_head." + k: v for k, v in head.items()}


def _map_all(
    state: Mapping[str, Tensor], predictor: str, report: MappingReport
) -> Tuple[Dict[str, Tensor], Dict[str, str], List[str]]:
    """(toolkit key -> tensor, toolkit key -> SGB key, unknown SGB keys)."""
    out: Dict[str, Tensor] = {}
    origin: Dict[str, str] = {}
    unknown: List[str] = []
    for key, value in state.items():
        if key.startswith(PREDICTOR_PREFIX):
            continue
        hit = _rename(key)
        if hit is None:
            unknown.append(key)
            continue
        src, dst, new = hit
        out[new], origin[new] = value, key
        report.add(src, dst, value)
    for key, value in _predictor_state(state, predictor).items():
        out[key], origin[key] = value, f"{PREDICTOR_PREFIX}* ({predictor} key map)"
        report.add(PREDICTOR_PREFIX, "relation_head.", value)
    return out, origin, unknown


def _shape_errors(mapped: Mapping[str, Tensor], model_state: Mapping[str, Tensor]) -> List[str]:
    return [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}"
        for k, v in mapped.items() if k in model_state and tuple(v.shape) != tuple(model_state[k].shape)
    ]


def _raise(path: str, parts: Sequence[Tuple[str, List[str]]]) -> None:
    lines = [f"{path}: the SGB checkpoint does not fit the model of the converted config:"]
    for title, items in parts:
        if items:
            lines.append(f"  {title} ({len(items)}): " + "; ".join(items[:15]) + (" ..." if len(items) > 15 else ""))
    raise SGBWeightsError("\n".join(lines))


def convert_sgb_state(
    state: Mapping[str, Tensor], model_state: Mapping[str, Tensor], predictor: str, path: str = "checkpoint"
) -> Tuple[Dict[str, Tensor], MappingReport]:
    """The toolkit state dict of a whole SGB model (detector-only or relation model), strictly.

    Args:
        state: :func:`read_sgb_checkpoint` output.
        model_state: the ``state_dict()`` of the toolkit model built from the converted config.
        predictor: SGB's ``MODEL.ROI_RELATION_HEAD.PREDICTOR`` (selects the predictor key map).
    """
    report = MappingReport()
    mapped, _, unknown = _map_all(state, predictor, report)
    missing = sorted(k for k in model_state if k not in mapped)
    unexpected = sorted(k for k in mapped if k not in model_state)
    shapes = _shape_errors(mapped, model_state)
    if unknown or missing or unexpected or shapes:
        _raise(path, [
            ("SGB keys this converter does not know", sorted(unknown)),
            ("toolkit keys the checkpoint does not provide", missing),
            ("mapped keys the toolkit model does not have", unexpected),
            ("shape differences", shapes),
        ])
    out = {k: mapped[k].to(model_state[k].dtype) for k in model_state}
    return out, report


def sgb_init_state(
    state: Mapping[str, Tensor], model_state: Mapping[str, Tensor], predictor: str, path: str = "checkpoint"
) -> Tuple[Dict[str, Tensor], Dict[str, str], MappingReport]:
    """Partial start from an SGB checkpoint: ``(state to load, toolkit key -> source, report)``.

    Everything the checkpoint has is mapped (a predictor only when its key map is known and it is
    the model's predictor); toolkit keys of the relation feature extractors that it lacks are taken
    from the detector's box head (SGB's ``load_mapping``). A mapped key the model does not have is
    ignored only when it belongs to the relation head (another predictor); a shape difference is
    an error. ``report.left_random`` lists the model keys that got no value.
    """
    report = MappingReport()
    sub = dict(state)
    if any(k.startswith(PREDICTOR_PREFIX) for k in sub) and predictor not in SGB_KEY_MAPS:
        sub = {k: v for k, v in sub.items() if not k.startswith(PREDICTOR_PREFIX)}
    mapped, origin, unknown = _map_all(sub, predictor, report)
    if unknown:
        _raise(path, [("SGB keys this converter does not know", sorted(unknown))])
    foreign = sorted(k for k in mapped if k not in model_state and not k.startswith("relation_head."))
    if foreign:
        _raise(path, [("mapped keys the toolkit model does not have", foreign)])
    mapped = {k: v for k, v in mapped.items() if k in model_state}
    source = {k: f"sgb:{origin[k]}" for k in mapped}
    for dst, src in LOAD_MAPPING:
        for key in model_state:
            if key.startswith(dst) and key not in mapped:
                sgb_key = src + key[len(dst):]
                if sgb_key in state:
                    mapped[key] = state[sgb_key]
                    source[key] = f"sgb:{sgb_key} (load_mapping)"
                    report.add(src, dst, state[sgb_key])
    shapes = _shape_errors(mapped, model_state)
    if shapes:
        _raise(path, [("shape differences", shapes)])
    report.left_random = sorted(k for k in model_state if k not in mapped)
    return {k: mapped[k].to(model_state[k].dtype) for k in mapped}, source, report
