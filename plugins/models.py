"""The built-in image model: EfficientNet-Lite0 with ImageNet weights, bundled as ONNX."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl
from tagsight.engine.model import default_model_spec


@hookimpl
def register_image_models(register) -> None:
    register(default_model_spec())
