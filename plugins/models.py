"""The built-in image models: EfficientNet-Lite0 with ImageNet weights, bundled as ONNX in fp32 and int8."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl


@hookimpl
def register_image_models(register) -> None:
    from tagsight.engine.model import PRECISIONS, default_model_spec

    for precision in PRECISIONS:
        register(default_model_spec(precision))
