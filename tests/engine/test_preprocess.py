from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tagsight.engine.preprocess import (
    ImageDecodeError,
    PreprocessSpec,
    load_tensor,
    open_rgb,
    resize_center_crop,
    to_rgb,
    to_tensor,
)

SPEC = PreprocessSpec(size=224, resize=256, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def test_tensor_shape_dtype_and_lite_normalization(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (300, 200), (255, 127, 0)), tmp_path / "a.png")
    tensor = load_tensor(path, SPEC)
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    assert tensor[0].mean() == pytest.approx((255 - 127) / 128)
    assert tensor[1].mean() == pytest.approx(0.0)
    assert tensor[2].mean() == pytest.approx(-127 / 128)


def test_center_crop_keeps_the_middle() -> None:
    pixels = np.zeros((100, 300, 3), np.uint8)
    pixels[:, 100:200] = 255  # white middle third, black sides
    out = resize_center_crop(Image.fromarray(pixels), resize=64, size=64)
    assert out.size == (64, 64)
    assert np.asarray(out).min() > 200  # only the white middle survives the crop


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape with orientation 6 (rotate 90° clockwise to view): the upright image is portrait.
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :100] = (255, 0, 0)  # left half red as stored
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = open_rgb(path, 100)
    assert upright.size == (100, 200)
    top = np.asarray(upright)[:50].mean(axis=(0, 1))
    assert top[0] > 200 and top[1] < 60  # the stored left half is now on top


@pytest.mark.parametrize(
    "mode, make",
    [
        ("CMYK", lambda: Image.new("CMYK", (64, 64), (0, 255, 255, 0))),  # red in CMYK
        ("P+transparency", lambda: _palette_with_transparency()),
        ("RGBA", lambda: Image.new("RGBA", (64, 64), (255, 0, 0, 255))),
        ("LA", lambda: Image.new("LA", (64, 64), (0, 0))),
        ("L", lambda: Image.new("L", (64, 64), 128)),
        ("1", lambda: Image.new("1", (64, 64), 1)),
        ("I;16", lambda: Image.fromarray(np.full((64, 64), 65535, np.uint16))),
        ("I", lambda: Image.fromarray(np.full((64, 64), 32768, np.int32))),
        ("F", lambda: Image.fromarray(np.full((64, 64), 0.5, np.float32))),
    ],
)
def test_any_mode_becomes_rgb(mode: str, make) -> None:
    rgb = to_rgb(make())
    assert rgb.mode == "RGB" and rgb.size == (64, 64)
    pixel = rgb.getpixel((10, 10))
    expected = {
        "CMYK": (255, 0, 0),
        "P+transparency": (255, 255, 255),  # fully transparent -> white background
        "RGBA": (255, 0, 0),
        "LA": (255, 255, 255),  # alpha 0 -> white
        "L": (128, 128, 128),
        "1": (255, 255, 255),
        "I;16": (255, 255, 255),  # 16-bit white stays white, not clipped garbage
        "I": (127, 127, 127),  # mid 16-bit range in a 32-bit mode
        "F": (127, 127, 127),  # 0..1 float
    }[mode]
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, expected)), pixel


def _palette_with_transparency() -> Image.Image:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0] * 256)
    image.info["transparency"] = 0
    return image


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert open_rgb(path, 32).getpixel((5, 5))[0] > 200


def test_jpeg_draft_decodes_large_photos_at_reduced_scale(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4000, 3000), (10, 200, 30)), tmp_path / "big.jpg", quality=80)
    image = open_rgb(path, 256)
    assert min(image.size) >= 256 and image.size[0] <= 1000  # DCT-scaled (1/8 = 500x375), not 4000x3000


def test_reads_from_an_open_file(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (100, 100), (0, 0, 0)), tmp_path / "b.png")
    tensor = load_tensor(io.BytesIO(path.read_bytes()), SPEC)
    assert tensor.shape == (3, 224, 224)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"this is not an image", "not an image"),
        (b"", "not an image"),
    ],
)
def test_unreadable_files_raise_a_clear_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=reason):
        load_tensor(path, SPEC)


def test_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    good = save(Image.effect_noise((400, 300), 50).convert("RGB"), tmp_path / "good.jpg", quality=90)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(ImageDecodeError, match="truncated|corrupt"):
        load_tensor(bad, SPEC)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="file not found"):
        load_tensor(tmp_path / "nope.png", SPEC)


def test_to_tensor_is_channels_first() -> None:
    image = Image.new("RGB", (224, 224), (255, 0, 0))
    tensor = to_tensor(image, SPEC)
    assert tensor[0, 0, 0] > 0.9 and tensor[1, 0, 0] < -0.9


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_large_non_jpeg_is_reduced_on_load_and_stays_upright(tmp_path: Path, fmt: str) -> None:
    pixels = np.zeros((1000, 2000, 3), np.uint8)
    pixels[:, :1000] = (255, 0, 0)  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view: the stored left half ends on top
    path = save(Image.fromarray(pixels), tmp_path / f"big.{fmt.lower()}", format=fmt, exif=exif)
    upright = open_rgb(path, 100)
    assert upright.size == (334, 667)  # reduced by 3 on load (shorter side stays >= 3 x 100)
    top = np.asarray(upright)[:150].mean(axis=(0, 1))
    assert top[0] > 200 and top[1] < 60
