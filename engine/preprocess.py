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

# Reduce (box average) by whole factors while the image stays this many times the target size, then
# resample: Pillow's quality/speed trade-off for `reducing_gap`.
REDUCING_GAP = 3
# Modes whose pixels can be averaged as they are (not palette indices, not 1-bit, not 16-bit).
REDUCIBLE_MODES = frozenset({"RGB", "RGBA", "RGBX", "L", "LA", "CMYK", "I", "F"})


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
            ImageOps.exif_transpose(image, in_place=True)  # no copy: of a 12 MP image it costs 20 ms
            return to_rgb(_reduce_on_load(image, min_side))  # after: reduce() drops TIFF tags
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


def _reduce_on_load(image: Image.Image, min_side: int) -> Image.Image:
    """Shrink a large decoded image by a whole factor (box average) before converting it, keeping its shorter side at least REDUCING_GAP * min_side: the factor `resize` would reduce
    by anyway, applied before the full-size work instead of after (12 MP decode+resize, with the copy
    exif_transpose no longer makes: PNG 278 -> 248 ms, TIFF 62 -> 36 ms)."""
    factor = min(image.size) // (min_side * REDUCING_GAP)
    if factor < 2 or image.mode not in REDUCIBLE_MODES:
        return image
    return image.reduce(factor)


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
    """Shorter side to `resize` (bilinear, reduced first for large images), then center crop to size.

    Only the crop is resampled (`box`): the pixels of resizing the whole image and cropping (to one
    level of rounding), in 1.1 ms instead of 1.8 for a 500x375 photo."""
    width, height = image.size
    scale = resize / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    left, top = (new_width - size) // 2, (new_height - size) // 2
    x_scale, y_scale = width / new_width, height / new_height  # source pixels per resized pixel
    box = (left * x_scale, top * y_scale, (left + size) * x_scale, (top + size) * y_scale)
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)


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
