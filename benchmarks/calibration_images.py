"""Calibration tensors for static INT8 quantization: never evaluation images.

    samples    the 6 bundled sample photos (resources/samples), 24 random crop/flip/brightness/colour
               variants each (144 tensors)
    generated  160 synthetic images: smooth random colour fields with random rectangles/ellipses, blur
               and noise (no photo content at all)
    both       the two together

Deterministic (fixed seeds), built in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from tagsight.engine.preprocess import PreprocessSpec, resize_center_crop, to_rgb, to_tensor

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def sample_variants(spec: PreprocessSpec, variants: int = 24, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tensors = []
    for path in sorted(p for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png")):
        image = to_rgb(Image.open(path))
        for _ in range(variants):
            w, h = image.size
            scale = rng.uniform(0.5, 1.0)
            cw, ch = int(w * scale), int(h * scale)
            left, top = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            variant = image.crop((left, top, left + cw, top + ch))
            if rng.random() < 0.5:
                variant = variant.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            variant = ImageEnhance.Brightness(variant).enhance(rng.uniform(0.7, 1.3))
            variant = ImageEnhance.Color(variant).enhance(rng.uniform(0.6, 1.4))
            tensors.append(to_tensor(resize_center_crop(variant, spec.resize, spec.size), spec))
    return tensors


def generated(spec: PreprocessSpec, count: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tensors = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, size=(rng.integers(2, 9), rng.integers(2, 9), 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((256, 256), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(rng.integers(3, 15)):
            x0, y0 = rng.integers(0, 256, 2)
            box = (x0, y0, x0 + rng.integers(10, 120), y0 + rng.integers(10, 120))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2)))
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(0, 20), (256, 256, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        tensors.append(to_tensor(resize_center_crop(image, spec.resize, spec.size), spec))
    return tensors


def calibration_tensors(spec: PreprocessSpec, which: str = "samples") -> np.ndarray:
    """float32 (n, 3, size, size) model inputs for `which` in samples | generated | both."""
    tensors = []
    if which in ("samples", "both"):
        tensors += sample_variants(spec)
    if which in ("generated", "both"):
        tensors += generated(spec)
    if not tensors:
        raise ValueError(f"unknown calibration set {which!r}")
    return np.stack(tensors).astype(np.float32)
