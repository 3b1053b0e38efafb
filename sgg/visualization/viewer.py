"""A static, self-contained HTML viewer of a scene-graph file (``tools/visualize.py``).

The viewer is a folder that opens from disk (``index.html``): no server, no internet, no
JavaScript library (the script is the toolkit's own, ``static/viewer.js``). Browsers do not let
a page opened from disk ``fetch()`` local JSON, so the data is written as script files::

    index.html  viewer.js  viewer.css
    viewer.json               what wrote the folder (format, version, image count); marks it as a viewer
    data/meta.js              SGV.meta({...}): classes, run metadata, metrics, per-predicate recall, paging
    data/page_000000.js       SGV.page(0, [image, ...]): the images of page 1 (see viewer_data.py)
    data/page_000001.js       ... one file per page, loaded only when that page is opened
    images/...                copies of the images, only with copy_images=True

Images are otherwise referenced by a path relative to the viewer folder. ``meta.js`` does not grow
with the number of images, so the first page costs the same for 100 or 26,000 images.
"""
from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tqdm import tqdm

from sgg import __version__ as SGG_VERSION
from sgg.utils.io import atomic_directory

__all__ = [
    "VIEWER_FORMAT",
    "VIEWER_VERSION",
    "ViewerOptions",
    "image_url",
    "page_file",
    "write_viewer",
]

VIEWER_FORMAT = "sgg-viewer"
VIEWER_VERSION = 1
STATIC_FILES = ("viewer.js", "viewer.css")
ORDERS = ("file", "recall-asc", "recall-desc")


@dataclass(frozen=True)
class ViewerOptions:
    """How the viewer is written.

    Attributes:
        page_size: images per page (one data file each).
        max_relations: predicted relations kept per image, in rank order (with ground truth at
            most the largest K, beyond which the evaluator takes no decision).
        ks: the K values offered (recall, verdicts, chart).
        order: ``file`` (the predictions file's order), ``recall-asc`` (worst images first) or
            ``recall-desc``; recall at the largest K, images without recall last.
        copy_images: copy the images into ``images/`` instead of referencing them.
    """

    page_size: int = 24
    max_relations: int = 100
    ks: tuple[int, ...] = (20, 50, 100)
    order: str = "file"
    copy_images: bool = False

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError(f"page_size: expected >= 1, got {self.page_size}")
        if self.max_relations < 0:
            raise ValueError(f"max_relations: expected >= 0, got {self.max_relations}")
        if not self.ks or any(int(k) < 1 for k in self.ks):
            raise ValueError(f"ks: expected positive integers, got {self.ks}")
        if self.order not in ORDERS:
            raise ValueError(f"order: expected one of {ORDERS}, got {self.order!r}")


def page_file(index: int) -> str:
    """Path of page ``index``'s data file inside the viewer folder (the script builds the same name)."""
    return f"data/page_{index:06d}.js"


def image_url(path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """URL of an image file relative to the viewer folder (percent-encoded, ``/`` separators)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))
    return quote(rel.replace(os.sep, "/"))


def _js_call(function: str, *args: Any) -> str:
    # JSON is valid JavaScript; ensure_ascii keeps the files plain ASCII whatever the class names
    body = ", ".join(json.dumps(a, ensure_ascii=True, separators=(",", ":"), allow_nan=False) for a in args)
    return f"{function}({body});\n"


def safe_relative(name: str) -> str:
    parts = [p for p in Path(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    if not parts:
        raise ValueError(f"image file name {name!r} has no usable path component")
    return "/".join(parts)


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out}: folder exists and is not empty; pass --overwrite to replace a viewer there")
    marker = out / "viewer.json"
    try:
        is_viewer = json.loads(marker.read_text(encoding="utf-8")).get("format") == VIEWER_FORMAT
    except (OSError, ValueError, AttributeError):
        is_viewer = False
    if not is_viewer:
        raise FileExistsError(
            f"{out}: not empty and not a viewer folder (no {marker.name} of format {VIEWER_FORMAT!r}); "
            "--overwrite only replaces a viewer, choose another --out"
        )


def write_viewer(
    out_dir: str | os.PathLike,
    meta: Mapping[str, Any],
    images: Iterable[str],
    *,
    num_images: int,
    page_size: int,
    copy_images: Sequence[tuple[str, str]] = (),
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write the viewer folder: static files, ``data/meta.js`` and one script file per page.

    Args:
        meta: run metadata for ``data/meta.js`` (title, mode, classes, metrics, ...); paging
            fields are added here.
        images: the images' payloads (:func:`sgg.visualization.viewer_data.image_payload`),
            each already serialised to JSON, in display order; consumed page by page.
        num_images: how many ``images`` yields (the page count is written before they are read).
        copy_images: ``(source file, path under the folder)`` pairs to copy.
        overwrite: replace an existing viewer folder (never a folder that is not a viewer).

    The folder is assembled next to ``out_dir`` and moved into place at the end
    (:func:`sgg.utils.io.atomic_directory`), so an interrupted run leaves any previous viewer untouched.
    """
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    num_pages = max(1, -(-num_images // page_size))
    with atomic_directory(out) as stage:
        (stage / "data").mkdir()
        static = resources.files("sgg.visualization").joinpath("static")
        for name in STATIC_FILES:
            (stage / name).write_bytes(static.joinpath(name).read_bytes())
        title = str(meta.get("title", "scene graphs"))
        page = static.joinpath("index.html").read_text(encoding="utf-8").replace("{{TITLE}}", html.escape(title))
        (stage / "index.html").write_text(page, encoding="utf-8")
        full_meta = {**meta, "num_images": num_images, "page_size": page_size, "num_pages": num_pages,
                     "viewer_version": VIEWER_VERSION, "toolkit_version": SGG_VERSION}
        (stage / "data" / "meta.js").write_text(_js_call("SGV.meta", full_meta), encoding="ascii")
        written, buffer, index = 0, [], 0

        def flush() -> None:
            nonlocal buffer, index
            text = f"SGV.page({index}, [\n" + ",\n".join(buffer) + "\n]);\n"
            (stage / page_file(index)).write_text(text, encoding="ascii")
            buffer, index = [], index + 1

        for payload in tqdm(images, total=num_images, desc="viewer pages", unit="img", disable=not progress):
            buffer.append(payload)
            written += 1
            if len(buffer) == page_size:
                flush()
        if buffer or index == 0:
            flush()
        if written != num_images:
            raise ValueError(f"write_viewer: num_images={num_images} but {written} images were given")
        for source, target in copy_images:
            dest = stage / "images" / safe_relative(target)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        (stage / "viewer.json").write_text(json.dumps(
            {"format": VIEWER_FORMAT, "version": VIEWER_VERSION, "num_images": num_images, "num_pages": num_pages,
             "toolkit_version": SGG_VERSION}, indent=1) + "\n", encoding="utf-8")
        for p in [stage, *stage.rglob("*")]:  # mkdtemp makes a private folder; a viewer is meant to be shared
            p.chmod(0o755 if p.is_dir() else 0o644)
    return out


def serialise(payload: Mapping[str, Any]) -> str:
    """One image payload as compact ASCII JSON (what a page file holds per image)."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def order_images(payloads: Sequence[tuple[Any, str]], order: str, key: Callable[[Any], float | None]) -> list[str]:
    """Serialised payloads in display order; ``key`` gives an item's recall (None: no recall, last)."""
    if order == "file":
        return [text for _, text in payloads]
    sign = 1.0 if order == "recall-asc" else -1.0
    ranked = sorted(range(len(payloads)), key=lambda i: (key(payloads[i][0]) is None,
                                                         sign * (key(payloads[i][0]) or 0.0), i))
    return [payloads[i][1] for i in ranked]
