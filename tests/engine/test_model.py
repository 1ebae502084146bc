"""The bundled ONNX model: file integrity, provider choice, and pinned predictions on the sample photos."""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from tagsight.engine.model import ImageModel, choose_providers, default_model_spec
from tagsight.engine.preprocess import load_tensor
from tagsight.engine.projection import softmax
from tagsight.engine.vocabulary import imagenet_classes

SAMPLES = Path(str(files("tagsight.resources").joinpath("samples")))

# sample photo -> (acceptable ImageNet class indices of the top-1, minimum probability of that class)
EXPECTED_TOP1 = {
    "coffee.jpg": ({967}, 0.85),  # espresso (0.954 at export time)
    "chelsea.jpg": ({281, 282, 285}, 0.30),  # Egyptian cat 0.373 and tiger cat 0.371 nearly tie
    "rocket.jpg": ({657}, 0.30),  # missile
    "flower.jpg": ({985}, 0.25),  # daisy (the photo is a dahlia, which ImageNet-1k lacks)
    "china.jpg": ({698}, 0.30),  # palace
    "camera.png": ({872}, 0.85),  # tripod
}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_model_file_matches_its_manifest(precision: str) -> None:
    spec = default_model_spec(precision)
    assert spec.precision == precision
    assert hashlib.sha256(spec.path.read_bytes()).hexdigest() == spec.sha256


def test_int8_model_is_its_own_model_and_agrees_with_fp32_on_the_samples() -> None:
    fp32, int8 = default_model_spec("fp32"), default_model_spec("int8")
    assert int8.id != fp32.id and int8.preprocess == fp32.preprocess  # cached outputs never mix
    batch = np.stack([load_tensor(SAMPLES / name, fp32.preprocess) for name in sorted(EXPECTED_TOP1)])
    (logits, features), (quantized, quantized_features) = (ImageModel.shared(s).run(batch) for s in (fp32, int8))
    assert quantized.shape == logits.shape and quantized_features.shape == features.shape
    for name, row in zip(sorted(EXPECTED_TOP1), quantized):
        assert int(row.argmax()) in EXPECTED_TOP1[name][0], name
    with pytest.raises(ValueError, match="unknown precision"):
        default_model_spec("int4")


def test_model_is_loaded_once_per_process() -> None:
    spec = default_model_spec()
    assert ImageModel.shared(spec) is ImageModel.shared(spec)


def test_outputs_logits_and_features() -> None:
    model = ImageModel.shared(default_model_spec())
    logits, features = model.run(np.zeros((2, 3, 224, 224), np.float32))
    assert logits.shape == (2, 1000) and features.shape == (2, 1280)
    assert model.provider == "CPU"


@pytest.mark.parametrize("name", sorted(EXPECTED_TOP1))
def test_sample_photos_keep_their_expected_top_class(name: str) -> None:
    spec = default_model_spec()
    logits, _ = ImageModel.shared(spec).run(load_tensor(SAMPLES / name, spec.preprocess)[None])
    probs = softmax(logits)[0]
    accepted, minimum = EXPECTED_TOP1[name]
    top1 = int(probs.argmax())
    assert top1 in accepted, imagenet_classes()[top1]
    assert probs[top1] >= minimum


def test_every_sample_photo_is_pinned() -> None:
    photos = {p.name for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png")}
    assert photos == set(EXPECTED_TOP1)


@pytest.mark.parametrize(
    "available, expected",
    [
        (["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (
            ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "AzureExecutionProvider"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (["CoreMLExecutionProvider"], ["CoreMLExecutionProvider", "CPUExecutionProvider"]),
    ],
)
def test_provider_preference(available: list[str], expected: list[str]) -> None:
    assert choose_providers(available) == expected
