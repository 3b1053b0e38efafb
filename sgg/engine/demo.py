"""Scene graphs of the user's own images: input collection, ``boxes.json``, the demo loop (``tools/demo.py``).

``boxes.json`` (optional) maps an image's file name (its base name, as found among the inputs) to
the list of its boxes, in pixels of the original image; a box is either ``[x1, y1, x2, y2]`` or
``{"box": [x1, y1, x2, y2], "label": "cup"}`` (a class name of the training dataset, or its integer
id 1..C-1)::

    {
      "kitchen.jpg": [{"box": [12, 40, 200, 310], "label": "person"},
                      {"box": [150, 200, 260, 330], "label": "cup"}],
      "street.png":  [[0, 100, 640, 480], [300, 50, 420, 400]]
    }

An image whose boxes all carry a label is predicted in predcls, one whose boxes carry none in
sgcls; mixing labelled and unlabelled boxes within an image is an error. With a ``boxes.json``,
every input image needs an entry (one output file holds one task), every entry an input image.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..export.atomic import check_target
from ..export.scene_graph_json import ExportOptions, ImageInfo, SceneGraphWriter
from ..visualization.draw import draw_scene_graph
from ..visualization.select import SelectionOptions
from .predictor import load_rgb_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "SCENE_GRAPHS_FILE",
    "DemoImage",
    "UserBoxes",
    "check_outputs",
    "collect_images",
    "load_user_boxes",
    "plan_task",
    "run_demo",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SCENE_GRAPHS_FILE = "scene_graphs.json"


@dataclass(frozen=True)
class DemoImage:
    """One input image: its key (base name, used in ``boxes.json`` and the output) and path."""

    file_name: str
    path: Path


@dataclass(frozen=True)
class UserBoxes:
    """The boxes of one image from ``boxes.json``: (N, 4) lists and labels (all or none)."""

    boxes: list
    labels: list | None


def collect_images(inputs: Sequence[str]) -> list[DemoImage]:
    """Image files named by ``inputs``: files, folders (their image files, sorted) or glob patterns.

    Raises ``FileNotFoundError`` when an input matches nothing, ``ValueError`` when two images share
    a base name or a stem (they would share the output key or the drawing's file name).
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise FileNotFoundError(
                    f"--input {item}: folder holds no image ({', '.join(IMAGE_EXTENSIONS)})"
                )
        elif p.is_file():
            found = [p]
        else:
            found = sorted(Path(q) for q in glob.glob(os.path.expanduser(item)) if Path(q).is_file())
            if not found:
                raise FileNotFoundError(f"--input {item}: no such file, folder or matching glob pattern")
        paths.extend(found)
    images, by_name, by_stem = [], {}, {}
    for path in dict.fromkeys(q.resolve() for q in paths):  # unique, in order
        for key, seen in ((path.name, by_name), (path.stem, by_stem)):
            if key in seen:
                raise ValueError(
                    f"--input: {seen[key]} and {path} share the name {key!r}; the output is keyed "
                    f"by file name and the drawing is <stem>.png, so rename one of them"
                )
            seen[key] = path
        images.append(DemoImage(path.name, path))
    return images


def load_user_boxes(path: str | os.PathLike) -> dict[str, UserBoxes]:
    """Parse ``boxes.json`` (format in the module docstring); errors name the file, the image and the box."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the boxes file ({e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object mapping image file names to lists of boxes")
    out = {}
    for name, entries in data.items():
        where = f"{path}: image {name!r}"
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{where}: expected a non-empty list of boxes")
        boxes, labels = [], []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                unknown = set(entry) - {"box", "label"}
                if "box" not in entry or unknown:
                    raise ValueError(
                        f"{where}, box {i}: expected keys 'box' and optional 'label'"
                        + (f", got unknown keys {sorted(unknown)}" if unknown else "")
                    )
                box, label = entry["box"], entry.get("label")
            else:
                box, label = entry, None
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            ):
                raise ValueError(f"{where}, box {i}: expected [x1, y1, x2, y2] (4 numbers), got {box!r}")
            if label is not None and not (
                isinstance(label, str) or (isinstance(label, int) and not isinstance(label, bool))
            ):
                raise ValueError(
                    f"{where}, box {i}: label must be a class name or an integer id, got {label!r}"
                )
            boxes.append([float(v) for v in box])
            labels.append(label)
        given = [lb is not None for lb in labels]
        if any(given) and not all(given):
            raise ValueError(
                f"{where}: boxes {[i for i, g in enumerate(given) if not g]} have no label while "
                f"others do; label every box (predcls) or none (sgcls)"
            )
        out[str(name)] = UserBoxes(boxes, labels if all(given) else None)
    return out


def plan_task(
    images: Sequence[DemoImage], user_boxes: dict[str, UserBoxes] | None, task: str | None, boxes_path: str
) -> str:
    """The single task of the run, checking ``boxes.json`` against the inputs."""
    if user_boxes is None:
        if task not in (None, "sgdet"):
            raise ValueError(f"--task {task} needs user boxes: pass --boxes boxes.json")
        return "sgdet"
    if task == "sgdet":
        raise ValueError("--task sgdet detects the objects itself: drop --boxes, or choose predcls/sgcls")
    names = {im.file_name for im in images}
    unknown = sorted(set(user_boxes) - names)
    if unknown:
        raise ValueError(
            f"{boxes_path}: image(s) {unknown} not found among the --input images "
            f"({len(names)} images, e.g. {sorted(names)[:3]})"
        )
    missing = sorted(names - set(user_boxes))
    if missing:
        raise ValueError(
            f"{boxes_path}: no entry for input image(s) {missing}; with --boxes every image needs boxes"
        )
    implied = {"predcls" if ub.labels is not None else "sgcls" for ub in user_boxes.values()}
    if task == "sgcls":
        return "sgcls"
    if len(implied) > 1:
        raise ValueError(
            f"{boxes_path}: some images have labelled boxes (predcls) and others not (sgcls); "
            f"one run has one task: label all images, or pass --task sgcls to ignore the labels"
        )
    (found,) = implied
    if task == "predcls" and found != "predcls":
        raise ValueError(f"{boxes_path}: --task predcls needs a label for every box")
    return found


def check_outputs(
    images: Sequence[DemoImage], output_dir: str | os.PathLike, *, draw: bool = True, overwrite: bool = False
) -> Path:
    """Refuse (``FileExistsError``) when ``scene_graphs.json`` or a drawing exists and not ``overwrite``."""
    out_dir = Path(output_dir)
    json_path = out_dir / SCENE_GRAPHS_FILE
    targets = [json_path] + ([out_dir / f"{im.path.stem}.png" for im in images] if draw else [])
    for target in targets:
        try:
            check_target(target, overwrite)
        except FileExistsError:
            raise FileExistsError(
                f"{target} already exists; pass --overwrite to replace the demo's outputs"
            ) from None
    return json_path


def run_demo(
    predictor: Any,
    images: Sequence[DemoImage],
    output_dir: str | os.PathLike,
    *,
    user_boxes: dict[str, UserBoxes] | None = None,
    boxes_path: str = "boxes.json",
    task: str | None = None,
    options: ExportOptions | None = None,
    draw_options: SelectionOptions | None = None,
    draw: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Predict every image, write ``output_dir/scene_graphs.json`` and one ``<stem>.png`` drawing each.

    The drawing shows what ``draw_options`` selects (:class:`sgg.visualization.select.SelectionOptions`:
    object score threshold, duplicate boxes drawn once, top distinct pairs); the JSON keeps everything.

    Every check (boxes file against the inputs, existing outputs) runs before the first prediction;
    the JSON file is streamed and appears atomically at the end. Returns the JSON path.
    """
    task = plan_task(images, user_boxes, task, boxes_path)
    json_path = check_outputs(images, output_dir, draw=draw, overwrite=overwrite)
    out_dir = json_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    model_meta = {
        "relation_head": str(predictor.cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR),
        "weights": str(predictor.cfg.MODEL.WEIGHTS),
    }
    with SceneGraphWriter(
        json_path,
        object_classes=predictor.object_classes,
        predicate_classes=predictor.predicate_classes,
        mode=task,
        dataset="user_images",
        model_meta=model_meta,
        overwrite=overwrite,
        options=options or ExportOptions(),
    ) as writer:
        for image_id, image in enumerate(
            tqdm(images, desc=f"demo ({task})", unit="img", disable=not progress)
        ):
            entry = user_boxes.get(image.file_name) if user_boxes else None
            pil_image = load_rgb_image(image.path)
            try:
                prediction = predictor(
                    pil_image,
                    boxes=None if entry is None else entry.boxes,
                    labels=None if entry is None else entry.labels,
                    task=task,
                    file_name=image.file_name,
                    image_id=image_id,
                )
            except ValueError as e:
                raise ValueError(f"{boxes_path if entry is not None else image.path}: {e}") from None
            info = ImageInfo(image.file_name, image_id, pil_image.width, pil_image.height)
            written = writer.add(info, prediction)
            if draw:
                draw_scene_graph(
                    pil_image,
                    written,
                    out_path=out_dir / f"{image.path.stem}.png",
                    options=draw_options,
                    overwrite=overwrite,
                )
    logger.info("Wrote %d scene graphs (%s) to %s", len(images), task, json_path)
    return json_path
