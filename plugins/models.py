"""The built-in image model: EfficientNet-Lite0 with ImageNet weights, bundled as ONNX."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl


@hookimpl
def register_image_models(register) -> None:
    from tagsight.engine.model import default_model_spec

    register(default_model_spec())
