"""Text -> image retrieval over scene-graph embeddings: build a saved index, query it.

A *retrieval folder* (what ``tools/retrieve.py build`` writes) holds:

* ``retrieval.json``: format, version, index kind, geometry, curvature, embedding width, the file
  names of the indexed images (position = index id), class names, where the embeddings came from;
* ``index/``: the :mod:`sgg.retrieval.index` index of the image points;
* ``text_model.pt``: the trained retrieval head (constructor spec, word vectors, state dict) so
  queries need neither the dataset nor the full model;
* ``vocab.json``: the caption vocabulary (absent when the head was trained without captions).

Image points come either from a model run over images (:func:`collect_image_embeddings`: the
head's :meth:`~sgg.modeling.auxiliary.HypRetrievalHead.embed_images`, relation points pooled with
weights = triplet scores) or from an exported scene-graph file without images
(:func:`embed_scene_graphs`: each triplet embedded with the text side, pooled the same way).
"""
from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..modeling.auxiliary.hyp_retrieval import HypRetrievalHead
from ..modeling.text import WordTokenizer
from ..utils.io import atomic_directory
from .index import CosineIndex, ExactLorentzIndex, RetrievalIndex, TangentHNSWIndex, load_index

__all__ = [
    "RETRIEVAL_FORMAT", "RetrievalMismatchError", "QueryResult", "RetrievalService", "make_index",
    "collect_image_embeddings", "embed_scene_graphs", "save_retrieval", "resolve_class_name",
    "load_trained_model", "retrieval_head_of", "build_from_dataset", "build_from_scene_graphs",
]

RETRIEVAL_FORMAT = "sgg-retrieval"
RETRIEVAL_VERSION = 1
_MANIFEST, _INDEX, _TEXT_MODEL, _VOCAB = "retrieval.json", "index", "text_model.pt", "vocab.json"
INDEX_KINDS = ("exact", "approx", "cosine")


class RetrievalMismatchError(ValueError):
    """The saved index and the model disagree (curvature, width, geometry)."""


def make_index(kind: str, head: HypRetrievalHead) -> RetrievalIndex:
    """An empty index of ``kind`` ("exact" | "approx" | "cosine") matching the head's geometry."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")
    lorentz = head.geometry == "lorentz"
    if lorentz == (kind == "cosine"):
        want = "exact or approx" if lorentz else "cosine"
        raise RetrievalMismatchError(
            f"the retrieval head has geometry {head.geometry!r}; use --kind {want} (not {kind!r})")
    if kind == "cosine":
        return CosineIndex()
    curvature = float(head.curvature().detach())
    return ExactLorentzIndex(curvature) if kind == "exact" else TangentHNSWIndex(curvature)


# ----------------------------------------------------------------------------- embeddings
@torch.no_grad()
def collect_image_embeddings(model: nn.Module, loader, head_name: str = "hyp_retrieval",
                             progress: bool = True) -> Tuple[List[str], np.ndarray]:
    """Run ``model`` (a :class:`~sgg.modeling.meta_arch.SceneGraphRCNN`) in eval mode over ``loader``
    and return (file names, (n, d_h) image points) from its retrieval head.

    The points are the head's ``embed_images`` of every candidate relation of an image, weighted by
    its triplet score (subject score x object score x best foreground predicate probability).
    """
    heads = getattr(model, "aux_heads", {})
    if head_name not in heads:
        raise ValueError(f"the model has no auxiliary head {head_name!r} (MODEL.AUXILIARY.HEADS = "
                         f"{tuple(heads.keys()) if hasattr(heads, 'keys') else ()}); it cannot embed images")
    head: HypRetrievalHead = heads[head_name]
    captured: List[torch.Tensor] = []

    def hook(_module, args, _output):
        inputs, outputs = args
        probs = torch.softmax(outputs.rel_logits.float(), 1)[:, 1:].max(1).values
        scores = []
        for obj_scores, pairs in zip(inputs.obj_scores or [None] * len(inputs.pair_idx), inputs.pair_idx):
            if obj_scores is None:
                scores.append(torch.ones(len(pairs), device=probs.device))
            else:
                scores.append(obj_scores[pairs[:, 0]].float() * obj_scores[pairs[:, 1]].float())
        weights = probs * torch.cat(scores) if scores else probs
        captured.append(head.embed_images(outputs.rel_embed, weights, inputs.num_rels).cpu())

    model.eval()
    names: List[str] = []
    handle = head.register_forward_hook(hook)
    try:
        for batch in tqdm(loader, desc="embedding images", disable=not progress):
            before = len(captured)
            model(batch)
            if len(captured) != before + 1:
                raise RuntimeError(f"the retrieval head ran {len(captured) - before} times for one batch")
            names.extend(s.record.file_name for s in batch)
    finally:
        handle.remove()
    points = torch.cat(captured).numpy() if captured else np.zeros((0, head.embed_dim), np.float32)
    return names, points.astype(np.float32)


def resolve_class_name(name: str, classes: Sequence[str], what: str) -> int:
    """Index of ``name`` in ``classes`` (case, spaces and underscores ignored); a ValueError suggests close names."""
    def norm(s: str) -> str:
        return " ".join(s.lower().replace("_", " ").split())

    table = {norm(c): i for i, c in enumerate(classes) if i > 0}
    key = norm(name)
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(classes[table[c]]) for c in close)}?" if close else ""
    raise ValueError(f"unknown {what} {name!r}{hint} (known: {len(table)} {what} names)")


@torch.no_grad()
def embed_scene_graphs(head: HypRetrievalHead, scenes, object_classes: Sequence[str],
                       predicate_classes: Sequence[str], top_k: int = 100,
                       progress: bool = True) -> Tuple[List[str], np.ndarray]:
    """Image points of an exported scene-graph file (:class:`~sgg.export.scene_graph_json.ScenesFile`)
    without images: the text points of each image's ``top_k`` triplets, pooled with the triplet scores.

    Class names of the file are mapped by name onto the head's ``object_classes`` / ``predicate_classes``.
    """
    obj_map = np.array([0] + [resolve_class_name(n, object_classes, "object class")
                              for n in scenes.object_classes[1:]], dtype=np.int64)
    pred_map = np.array([0] + [resolve_class_name(n, predicate_classes, "predicate")
                               for n in scenes.predicate_classes[1:]], dtype=np.int64)
    head.eval()
    names, points = [], []
    for file_name, (_info, pred) in tqdm(scenes.images.items(), desc="embedding scene graphs",
                                        disable=not progress):
        pairs = pred.rel_pair_idxs[:top_k]
        labels = pred.rel_labels[:top_k] if pred.rel_labels is not None else np.zeros(0, np.int64)
        scores = pred.triplet_scores()[:top_k] if len(pairs) else np.zeros(0, np.float32)
        subj = torch.from_numpy(obj_map[pred.labels[pairs[:, 0]]])
        obj = torch.from_numpy(obj_map[pred.labels[pairs[:, 1]]])
        rel = torch.from_numpy(pred_map[labels])
        text = head.embed_triplet_texts(subj, rel, obj)
        points.append(head.pool_points(text, torch.from_numpy(np.asarray(scores, np.float32)), [len(pairs)]))
        names.append(file_name)
    out = torch.cat(points).numpy() if points else np.zeros((0, head.embed_dim), np.float32)
    return names, out.astype(np.float32)


# ----------------------------------------------------------------------------- saving / loading
def save_retrieval(directory: str, index: RetrievalIndex, file_names: Sequence[str], head: HypRetrievalHead,
                   object_classes: Sequence[str], predicate_classes: Sequence[str], source: Dict[str, str],
                   overwrite: bool = False) -> Path:
    """Write a retrieval folder (see the module doc) atomically; refuses an existing folder unless ``overwrite``."""
    target = Path(directory)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists; pass --overwrite (overwrite=True) to replace it")
    if len(file_names) != len(index):
        raise ValueError(f"{len(file_names)} file names for an index of {len(index)} items")
    with atomic_directory(target) as tmp:
        index.save(tmp / _INDEX)
        torch.save({
            "spec": head.spec(),
            "predicate_word_vectors": head.predicate_vectors.cpu(),
            "object_word_vectors": head.object_vectors.cpu() if head.object_vectors is not None else None,
            "state_dict": {k: v.cpu() for k, v in head.state_dict().items()},
        }, tmp / _TEXT_MODEL)
        if head.tokenizer is not None:
            head.tokenizer.save(str(tmp / _VOCAB))
        manifest = {
            "format": RETRIEVAL_FORMAT, "version": RETRIEVAL_VERSION, "index_kind": index.kind,
            "geometry": head.geometry, "curvature": float(head.curvature().detach()), "dim": head.embed_dim,
            "count": len(file_names), "file_names": list(file_names),
            "vocab": _VOCAB if head.tokenizer is not None else None,
            "object_classes": list(object_classes), "predicate_classes": list(predicate_classes),
            "source": dict(source),
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return target


@dataclass
class QueryResult:
    """Ranked hits ``[(file name, distance), ...]`` (ascending distance) and the query words ignored."""

    hits: List[Tuple[str, float]]
    unknown_words: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"hits": [{"rank": i + 1, "file_name": f, "distance": d} for i, (f, d) in enumerate(self.hits)],
                "unknown_words": self.unknown_words}


class RetrievalService:
    """A loaded retrieval folder: ``query_text`` (caption encoder) and ``query_triplet`` (text side)."""

    def __init__(self, index: RetrievalIndex, head: HypRetrievalHead, file_names: List[str],
                 object_classes: List[str], predicate_classes: List[str], where: str = "<memory>"):
        self.index, self.head, self.file_names = index, head.eval(), list(file_names)
        self.object_classes, self.predicate_classes = list(object_classes), list(predicate_classes)
        self.where = where
        self._check()

    def _check(self) -> None:
        if self.index.dim != self.head.embed_dim:
            raise RetrievalMismatchError(f"{self.where}: index width {self.index.dim} but the model embeds into "
                                         f"{self.head.embed_dim} dimensions; rebuild the index with this model")
        c_index = getattr(self.index, "curvature", None)
        if c_index is not None:
            if self.head.geometry != "lorentz":
                raise RetrievalMismatchError(f"{self.where}: hyperbolic index but a {self.head.geometry!r} model")
            c_model = float(self.head.curvature().detach())
            if not math.isclose(c_index, c_model, rel_tol=1e-4):
                raise RetrievalMismatchError(f"{self.where}: index curvature {c_index:.6g} but model curvature "
                                             f"{c_model:.6g}; rebuild the index with this model")
        elif self.head.geometry == "lorentz":
            raise RetrievalMismatchError(f"{self.where}: cosine index but a Lorentz model")
        if len(self.file_names) != len(self.index):
            raise RetrievalMismatchError(f"{self.where}: {len(self.file_names)} file names, {len(self.index)} items")

    @classmethod
    def load(cls, directory: str) -> RetrievalService:
        """Load a folder written by :func:`save_retrieval` (clear errors for missing/foreign files)."""
        root = Path(directory)
        path = root / _MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{root}: not a retrieval folder (no {_MANIFEST}); build one with "
                                    f"'tools/retrieve.py build'")
        manifest = json.loads(path.read_text())
        if manifest.get("format") != RETRIEVAL_FORMAT or manifest.get("version") != RETRIEVAL_VERSION:
            raise ValueError(f"{path}: fields 'format'/'version' must be {RETRIEVAL_FORMAT!r}/{RETRIEVAL_VERSION}")
        blob = torch.load(root / _TEXT_MODEL, map_location="cpu", weights_only=True)
        tokenizer = WordTokenizer.load(str(root / manifest["vocab"])) if manifest.get("vocab") else None
        head = HypRetrievalHead(predicate_word_vectors=blob["predicate_word_vectors"],
                                object_word_vectors=blob["object_word_vectors"], tokenizer=tokenizer, **blob["spec"])
        head.load_state_dict(blob["state_dict"])
        index = load_index(root / _INDEX)
        if manifest.get("dim") != index.dim:
            raise RetrievalMismatchError(f"{path}: field 'dim' is {manifest.get('dim')} but the index has {index.dim}")
        return cls(index, head, manifest["file_names"], manifest["object_classes"], manifest["predicate_classes"],
                   where=str(root))

    # ------------------------------------------------------------------ queries
    def _search(self, point: torch.Tensor, k: int) -> List[Tuple[str, float]]:
        dist, ids = self.index.search(point.detach().cpu().numpy().reshape(1, -1).astype(np.float32), k)
        return [(self.file_names[i], float(d)) for d, i in zip(dist[0], ids[0]) if i >= 0]

    @torch.no_grad()
    def query_text(self, text: str, k: int = 10) -> QueryResult:
        """Rank the images for a caption-like ``text``; unknown words are dropped and reported."""
        tok = self.head.tokenizer
        if tok is None:
            raise ValueError(f"{self.where}: the model was trained without captions (no caption vocabulary); "
                             f"query with --triplet SUBJ PRED OBJ instead")
        words = tok.split(text)
        unknown = [w for w in words if w not in tok.index]
        known = [w for w in words if w in tok.index]
        if not known:
            raise ValueError(f"none of the words of {text!r} is in the caption vocabulary "
                             f"({len(tok) - 2} words)" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        ids, lengths = tok.encode_batch([" ".join(known)])
        point = self.head.embed_captions(ids, lengths)[0]
        return QueryResult(self._search(point, k), unknown)

    @torch.no_grad()
    def query_triplet(self, subject: str, predicate: str, obj: str, k: int = 10) -> QueryResult:
        """Rank the images for one (subject, predicate, object) triplet of class names."""
        s = resolve_class_name(subject, self.object_classes, "object class")
        p = resolve_class_name(predicate, self.predicate_classes, "predicate")
        o = resolve_class_name(obj, self.object_classes, "object class")
        point = self.head.embed_triplet_texts(torch.tensor([s]), torch.tensor([p]), torch.tensor([o]))[0]
        return QueryResult(self._search(point, k))


# ----------------------------------------------------------------------------- model-based building
def load_trained_model(cfg) -> Tuple[nn.Module, object]:
    """Build the model of ``cfg`` for its training dataset's metadata and load ``MODEL.WEIGHTS``."""
    from ..data.build import register_datasets_from_config
    from ..data.catalog import MetadataCatalog
    from ..engine.checkpoint import SGGCheckpointer
    from ..engine.trainer import resolve_device
    from ..modeling.build import build_model

    names = list(cfg.DATASETS.TRAIN) or list(cfg.DATASETS.TEST)
    register_datasets_from_config(cfg, names)
    metadata = MetadataCatalog.get(names[0])
    model = build_model(cfg, metadata).to(resolve_device(cfg))
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("retrieval needs trained weights: pass MODEL.WEIGHTS path/to/model_final.pth")
    SGGCheckpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return model.eval(), metadata


def retrieval_head_of(model: nn.Module, head_name: str = "hyp_retrieval") -> HypRetrievalHead:
    """The model's retrieval head, or a clear error when the config has none."""
    heads = getattr(model, "aux_heads", {})
    if head_name not in heads:
        raise ValueError(f"the model has no {head_name!r} auxiliary head; train with "
                         f"MODEL.AUXILIARY.HEADS (\"{head_name}\",)")
    return heads[head_name]


def build_from_dataset(cfg, dataset_name: str, index_dir: str, kind: str = "exact", overwrite: bool = False,
                       progress: bool = True) -> Path:
    """Embed every image of ``dataset_name`` with the trained model of ``cfg`` and save a retrieval folder."""
    from ..data.build import build_test_loader

    model, metadata = load_trained_model(cfg)
    head = retrieval_head_of(model)
    index = make_index(kind, head)
    names, points = collect_image_embeddings(model, build_test_loader(cfg, dataset_name), progress=progress)
    index.build(points)
    return save_retrieval(index_dir, index, names, head, metadata.object_classes, metadata.predicate_classes,
                          {"dataset": dataset_name, "weights": cfg.MODEL.WEIGHTS}, overwrite=overwrite)


def build_from_scene_graphs(cfg, scene_graph_file: str, index_dir: str, kind: str = "exact",
                            overwrite: bool = False, top_k: int = 100, progress: bool = True) -> Path:
    """Index an exported scene-graph file (no images) with the trained text side of ``cfg``'s model."""
    from ..export.scene_graph_json import read_scene_graphs

    model, metadata = load_trained_model(cfg)
    head = retrieval_head_of(model)
    index = make_index(kind, head)
    scenes = read_scene_graphs(scene_graph_file)
    names, points = embed_scene_graphs(head, scenes, metadata.object_classes, metadata.predicate_classes,
                                       top_k=top_k, progress=progress)
    if not names:
        raise ValueError(f"{scene_graph_file}: field 'images': no image to index")
    index.build(points)
    return save_retrieval(index_dir, index, names, head, metadata.object_classes, metadata.predicate_classes,
                          {"scene_graphs": os.path.abspath(scene_graph_file), "weights": cfg.MODEL.WEIGHTS},
                          overwrite=overwrite)
