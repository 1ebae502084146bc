"""The image model: an ONNX graph with `logits` and `features` outputs, run by onnxruntime.

The execution provider is chosen once per session (GPU providers before CPU) and the one actually in
use is reported, never assumed: onnxruntime silently falls back to CPU when a GPU provider fails.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tagsight.engine.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

# The bundled EfficientNet-Lite0 by precision. int8 (resources/models/quantize_efficientnet_lite0.py)
# runs 1.6x faster on CPU with hit@1 within a point of fp32 (benchmarks/bench_precision.py).
BUNDLED_MANIFESTS = {"fp32": "models/efficientnet-lite0.json", "int8": "models/efficientnet-lite0-int8.json"}
PRECISIONS = tuple(BUNDLED_MANIFESTS)

# Preferred order: dedicated accelerators first, CPU last.
PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


@dataclass(frozen=True)
class ModelSpec:
    """What a model file is and how to feed it; read from a JSON manifest beside the ONNX file."""

    id: str
    path: Path
    sha256: str
    preprocess: PreprocessSpec
    classes: str
    input_name: str = "image"
    logits_name: str = "logits"
    features_name: str = "features"
    precision: str = "fp32"

    @classmethod
    def from_manifest(cls, manifest: Path) -> "ModelSpec":
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        return cls(
            id=meta["id"],
            path=manifest.parent / meta["file"],
            sha256=meta["sha256"],
            preprocess=PreprocessSpec(
                size=int(meta["input_size"]),
                resize=int(meta["resize"]),
                mean=tuple(float(m) for m in meta["mean"]),  # type: ignore[arg-type]
                std=tuple(float(s) for s in meta["std"]),  # type: ignore[arg-type]
            ),
            classes=meta["classes"],
            input_name=meta.get("input", "image"),
            logits_name=meta["outputs"]["logits"],
            features_name=meta["outputs"]["features"],
            precision=meta.get("precision", "fp32"),
        )


def default_model_spec(precision: str = "fp32") -> ModelSpec:
    """The bundled EfficientNet-Lite0 at `precision` (PRECISIONS; manifests in resources/models)."""
    if precision not in BUNDLED_MANIFESTS:
        raise ValueError(f"unknown precision {precision!r} (available: {', '.join(PRECISIONS)})")
    manifest = files("tagsight.resources").joinpath(BUNDLED_MANIFESTS[precision])
    return ModelSpec.from_manifest(Path(str(manifest)))


def available_models() -> dict[str, ModelSpec]:
    """Image models offered by plugins, by id (the bundled one among them)."""
    from tagsight.engine import plugins

    return plugins.collect_by_name("register_image_models", ModelSpec, lambda spec: spec.id)


def get_model_spec(model_id: str | None) -> ModelSpec:
    """The model `model_id`, or the bundled default when None."""
    if model_id is None:
        return default_model_spec()
    models = available_models()
    if model_id not in models:
        raise ValueError(f"unknown model {model_id!r} (available: {', '.join(sorted(models))})")
    return models[model_id]


def choose_providers(available: Sequence[str]) -> list[str]:
    """Providers to ask for, best first, among those this onnxruntime build offers."""
    ranked = [p for p in PROVIDER_PREFERENCE if p in available]
    return ranked if "CPUExecutionProvider" in ranked else [*ranked, "CPUExecutionProvider"]


def short_provider_name(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider")


def session_options(ort: Any) -> Any:
    """One thread per run: callers use the cores by running batches from several threads at once
    (TaggingService.tag), which outran one run on every core in benchmarks/bench_tag_pipeline.py
    (94.6 vs 89.5 img/s, 80.3 with onnxruntime's default spinning) and bench_model_options.py.
    Spinning is off too, though with one thread there is no pool to spin: spinning pool threads
    burn the cores that decoding and the other runs need."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; fallbacks are reported by us below
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class ImageModel:
    """An onnxruntime session over one model file. Use `ImageModel.shared(spec)` to load it once.

    A run uses one core; `run` is thread-safe, so run batches from several threads to use more."""

    _shared: dict[tuple[str, str], "ImageModel"] = {}
    _shared_lock = threading.Lock()

    def __init__(self, spec: ModelSpec, providers: Sequence[str] | None = None, options: Any = None) -> None:
        """`options`: an onnxruntime.SessionOptions to use instead of `session_options`'."""
        import onnxruntime as ort  # imported here: it costs ~0.3 s and `--help` should not pay it

        self.spec = spec
        wanted = list(providers) if providers else choose_providers(ort.get_available_providers())
        options = options if options is not None else session_options(ort)
        self.session = ort.InferenceSession(str(spec.path), sess_options=options, providers=wanted)
        self.providers: list[str] = self.session.get_providers()
        if self.providers[0] != wanted[0]:
            log.warning(
                "%s could not be used; running on %s", wanted[0], short_provider_name(self.providers[0])
            )
        outputs = {o.name: o for o in self.session.get_outputs()}
        self.num_classes = int(outputs[spec.logits_name].shape[-1])
        self.feature_dim = int(outputs[spec.features_name].shape[-1])

    @classmethod
    def shared(cls, spec: ModelSpec) -> "ImageModel":
        """One session per model file and process: sessions are large and thread-safe to run."""
        key = (str(spec.path), spec.sha256)
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(spec)
            return cls._shared[key]

    @property
    def provider(self) -> str:
        """The execution provider really running this model, e.g. 'CPU' or 'CUDA'."""
        return short_provider_name(self.providers[0])

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (n, 3, H, W) -> (logits (n, classes), features (n, feature_dim))."""
        logits, features = self.session.run(
            [self.spec.logits_name, self.spec.features_name], {self.spec.input_name: batch}
        )
        return logits, features
