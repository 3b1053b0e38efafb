"""Render a toy scene into an RGB image: textured background, clutter, textured outlined shapes."""
from __future__ import annotations

import io
from typing import List

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

from .scene import ToyObject
from .vocabulary import COLOURS

__all__ = ["render_scene", "encode_jpeg", "JPEG_QUALITY"]

JPEG_QUALITY = 90  # fixed so that the same seed gives byte-identical files


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = rng.uniform(170, 235, size=3)
    tilt = rng.uniform(-35, 35, size=(2, 3))
    yy = np.linspace(-0.5, 0.5, height)[:, None, None]
    xx = np.linspace(-0.5, 0.5, width)[None, :, None]
    img = base + yy * tilt[0] + xx * tilt[1]
    img = img + rng.normal(0, 6, size=(height, width, 1))  # grain
    return img


def _clutter(rng: np.random.Generator, canvas: Image.Image, scale: float) -> None:
    """Unannotated distractors: thin grey lines, small grey blobs and rings."""
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    for _ in range(int(rng.integers(2, 7))):
        g = int(rng.integers(60, 160))
        pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(2)]
        draw.line(pts, fill=(g, g, g), width=max(1, int(round(scale))))
    for _ in range(int(rng.integers(2, 8))):
        g = int(rng.integers(80, 180))
        r = float(rng.uniform(2, 6)) * scale
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(g, g, g))
        else:
            draw.ellipse([x - r, y - r, x + r, y + r], outline=(g, g, g))


def render_scene(rng: np.random.Generator, objects: List[ToyObject], width: int, height: int,
                 scale: float = 1.0) -> Image.Image:
    """Draw clutter then the objects in order (later ones occlude earlier ones)."""
    bg = np.clip(_background(rng, width, height), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(bg, "RGB")
    _clutter(rng, canvas, scale)
    img = np.asarray(canvas, dtype=np.int16).copy()
    yy, xx = np.mgrid[0:height, 0:width]
    period = max(4, int(round(5 * scale)))
    for obj in objects:
        colour = np.array(COLOURS[obj.colour], dtype=np.int16) + rng.integers(-18, 19, size=3)
        m = obj.mask
        img[m] = colour
        if obj.texture == "striped":
            stripes = m & (((xx + yy) // period) % 2 == 0)
            img[stripes] = (colour * 0.55).astype(np.int16)
        elif obj.texture == "dotted":
            dots = m & (xx % period < 2) & (yy % period < 2)
            img[dots] = 245
        edge = m & ~binary_erosion(m)
        img[edge] = (colour * 0.35).astype(np.int16)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def encode_jpeg(image: Image.Image) -> bytes:
    """JPEG bytes with fixed settings (quality, no optimisation pass, no metadata)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, subsampling=2)
    return buf.getvalue()
