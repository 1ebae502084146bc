"""Image file -> normalized float32 CHW tensor. Pure functions over Pillow and numpy.

Decoding is the slow part for camera photos, so JPEGs are decoded at reduced scale (`Image.draft`,
DCT scaling) to the smallest size that still covers the resize target, and other formats are
reduced on load (`Image.reduce`) before the final resample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


class ImageDecodeError(ValueError):
    """An image that cannot be read; the message is the reason, fit to show a user."""


@dataclass(frozen=True)
class PreprocessSpec:
    """How a model wants its input: shorter side resized to `resize`, center crop `size`, then
    (pixel - mean) / std per channel with pixels in 0..255."""

    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def open_rgb(source: Path | BinaryIO, min_side: int) -> Image.Image:
    """Decode `source` (a path or an open binary file) as 8-bit RGB, upright (EXIF orientation applied), first frame if animated,
    decoded at the smallest JPEG scale whose shorter side is still at least `min_side`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            if image.format == "JPEG":
                image.draft("RGB", _draft_request(image.size, min_side))
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a directory") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image Pillow can read (unknown or corrupt format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"image too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"corrupt or truncated image: {exc}") from None


def _draft_request(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    # draft() keeps both sides at or above the request, so ask for the aspect-correct size whose
    # shorter side is min_side.
    width, height = size
    scale = min_side / max(1, min(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: transparency composited on white, 16/32-bit and float scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = Image.fromarray(_scale_to_uint8(np.asarray(image)), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.astype(np.float64)
    top = pixels.max(initial=0.0)
    if pixels.dtype.kind == "f" and top <= 1.0:
        scale = 255.0  # float images in 0..1
    elif top <= 255:
        scale = 1.0
    else:
        scale = 255.0 / 65535.0  # 16-bit range, also when stored in a 32-bit mode
    return np.clip(pixels * scale, 0, 255).astype(np.uint8)


def resize_center_crop(image: Image.Image, resize: int, size: int) -> Image.Image:
    """Shorter side to `resize` (bilinear, reduced first for large images), then center crop to size."""
    width, height = image.size
    scale = resize / min(width, height)
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left = (new_size[0] - size) // 2
    top = (new_size[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """RGB image of spec.size -> float32 array (3, size, size), normalized."""
    pixels = np.asarray(image, dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1))


def load_tensor(source: Path | BinaryIO, spec: PreprocessSpec) -> np.ndarray:
    """The model input for one file; raises ImageDecodeError with a readable reason."""
    image = open_rgb(source, spec.resize)
    return to_tensor(resize_center_crop(image, spec.resize, spec.size), spec)
