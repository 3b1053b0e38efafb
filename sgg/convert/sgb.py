"""Convert an SGB (Scene-Graph-Benchmark) checkpoint into a toolkit run folder: ``config.yaml`` + ``model_final.pth``.

    cfg, weights = convert_sgb("e2e_relation_X_101_32_8_FPN_1x.yaml", "model_final.pth",
                               "VG-SGG-dicts-with-attri.json", "converted/")

The config is :func:`sgg.convert.sgb_config.toolkit_config` of SGB's YAML; the weights are SGB's
tensors under the toolkit's names (:func:`sgg.convert.sgb_weights.convert_sgb_state`), checked
against the model that config builds: same keys, same shapes, class counts equal to the dicts file.
The frequency-bias table and the word embeddings are tensors of SGB's checkpoint, so the converted
model needs neither GloVe vectors nor dataset statistics. ``tools/convert_checkpoint.py`` is the
command-line front end.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from sgg.data.catalog import DatasetMetadata
from sgg.data.vg150 import load_vg150_dicts
from sgg.utils.io import atomic_torch_save, atomic_write_text, safe_output_path

from .sgb_config import (
    SGBConfigError,
    check_supported,
    read_sgb_config,
    relation_keys_not_carried,
    toolkit_config,
)
from .sgb_weights import convert_sgb_state, is_relation_checkpoint, read_sgb_checkpoint

__all__ = ["convert_sgb", "build_skeleton", "conversion_metadata", "load_converted"]

logger = logging.getLogger(__name__)


def conversion_metadata(object_classes: List[str], predicate_classes: List[str], root: str) -> DatasetMetadata:
    """Metadata with the class names only (no statistics: the converted weights carry the bias table)."""
    return DatasetMetadata(
        name="sgb_conversion", object_classes=list(object_classes), predicate_classes=list(predicate_classes),
        evaluator_type="vg150", root=root, split="train",
    )


def build_skeleton(cfg, metadata: DatasetMetadata) -> nn.Module:
    """The toolkit model of ``cfg`` with its parameters on the ``meta`` device (shapes only, no memory)."""
    from sgg.modeling import meta_arch  # noqa: F401  (registers SceneGraphRCNN)
    from sgg.modeling.build import META_ARCH_REGISTRY

    cls = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    with torch.device("meta"):
        return cls(**cls.from_config(cfg, metadata))


def _check_class_counts(state: Dict[str, Tensor], n_obj: int, dicts: str) -> None:
    weight = state.get("roi_heads.box.predictor.cls_score.weight")
    if weight is not None and weight.shape[0] != n_obj:
        raise SGBConfigError(
            f"class count mismatch: the checkpoint's box classifier has {weight.shape[0]} object classes "
            f"(incl. background) but {dicts} lists {n_obj}"
        )


def convert_sgb(
    config_file: str,
    weights: Optional[str],
    dicts: str,
    out_dir: str,
    *,
    overwrite: bool = False,
    dataset_root: Optional[str] = None,
    log: Callable[[str], None] = print,
) -> Tuple[str, Optional[str]]:
    """Write ``out_dir/config.yaml`` and ``out_dir/model_final.pth``; returns their paths.

    Args:
        config_file: SGB's YAML (a published config or a run's ``config.yaml``).
        weights: SGB's ``model_final.pth`` (detector-only or a whole relation model); None writes the
            config only (e.g. SGB's relation config, to train a relation head that starts from SGB's
            detector with ``MODEL.INIT_WEIGHTS sgb:<detector checkpoint>``).
        dicts: ``VG-SGG-dicts-with-attri.json`` (class and predicate names).
        out_dir: output folder (created); existing files are refused unless ``overwrite``.
        dataset_root: ``DATASETS.ROOT`` of the config (default: the folder of ``dicts``).
        log: where the mapping report goes.

    Raises:
        SGBConfigError, SGBWeightsError: naming the file and what does not fit.
    """
    cfg_path = safe_output_path(os.path.join(out_dir, "config.yaml"), overwrite)
    weights_path = safe_output_path(os.path.join(out_dir, "model_final.pth"), overwrite) if weights else None
    sgb = read_sgb_config(config_file)
    check_supported(sgb)
    names = load_vg150_dicts(dicts)
    root = dataset_root or os.path.dirname(os.path.abspath(dicts))
    cfg = toolkit_config(sgb, names["object_classes"], names["predicate_classes"], root,
                         weights=os.path.abspath(weights_path) if weights_path else "")
    relation = bool(sgb["MODEL.RELATION_ON"])
    if relation:
        not_carried = relation_keys_not_carried(sgb)
        if not_carried:
            log("SGB relation-head keys without a toolkit counterpart (not used): " + ", ".join(not_carried))
    converted = None
    if weights:
        state = read_sgb_checkpoint(weights)
        if is_relation_checkpoint(state) != relation:
            raise SGBConfigError(
                f"{config_file} has MODEL.RELATION_ON = {sgb['MODEL.RELATION_ON']} but {weights} "
                f"{'has' if not relation else 'has no'} relation head (roi_heads.relation.*)"
            )
        _check_class_counts(state, len(names["object_classes"]), dicts)
        predictor = cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR
        metadata = conversion_metadata(names["object_classes"], names["predicate_classes"], root)
        model_state = build_skeleton(cfg, metadata).state_dict()
        converted, report = convert_sgb_state(state, model_state, predictor, weights)
        log(f"{weights}: {'relation model' if relation else 'detector'} "
            f"({'predictor ' + predictor + ', ' if relation else ''}{len(state)} tensors, "
            f"{sum(v.numel() for v in state.values()) / 1e6:.1f} M values)")
        log(report.format())
    os.makedirs(out_dir, exist_ok=True)
    if converted is not None:
        atomic_torch_save({"model": converted}, weights_path)
    atomic_write_text(cfg_path, cfg.dump())
    log(f"wrote {cfg_path}" + (f" and {weights_path}" if weights_path else " (config only, no weights)"))
    return cfg_path, weights_path


def load_converted(folder: str, dicts: str, overrides: Sequence = ()) -> Tuple[object, nn.Module]:
    """``(cfg, model)`` of a converted folder: its config (plus ``KEY VALUE`` overrides) and weights,
    in eval mode, with the class names of ``dicts`` (no dataset needed)."""
    from sgg.config import get_cfg
    from sgg.engine.checkpoint import SGGCheckpointer
    from sgg.modeling.build import build_model

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(folder, "config.yaml"))
    cfg.merge_from_list(list(overrides))
    cfg.freeze()
    names = load_vg150_dicts(dicts)
    model = build_model(cfg, conversion_metadata(names["object_classes"], names["predicate_classes"], folder))
    SGGCheckpointer(model, save_to_disk=False).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return cfg, model.eval()
