"""fp32 vs a static INT8 quantization of the bundled model, measured in one run.

    python benchmarks/bench_precision.py [EVAL_FOLDER] [--method minmax|percentile|entropy]
        [--calibration samples|generated|both] [--no-reduce-range] [--quantize-all] [--save PATH]

Quantizes the bundled model with onnxruntime's static quantization into a temporary folder, then prints
images/s on prepared tensors (batch 16 and batch 1, fp32 and int8 interleaved, best of 5) and the CNN's
hit@1/hit@5 on EVAL_FOLDER (default ../shared/eval/imagenet-dev) for both, the int8 file's size and how
long quantizing took. tagsight ships int8 only if the loss is at most one point.

The default setting (see benchmarks/calibration_images.py for the calibration images, never evaluation
images): QDQ format, uint8 activations, int8 per-channel weights with reduce_range (7-bit weights),
MinMax calibration, the logits Gemm and the first layers (stem conv and block 0, at 112x112) left in
float. Keeping those first layers in float was chosen on held-out calibration-style images (fp32-vs-int8
KL 0.157 -> 0.042), not on the evaluation set.

reduce_range is what matters on CPUs without VNNI (AVX2 only, e.g. the 2-core EPYC dev machine):
onnxruntime's u8s8 kernels there multiply with vpmaddubsw, whose int16 pair sums saturate with full
8-bit weights. Without it the same model loses ~4 points of hit@1 (0.850 vs 0.888); with it the loss
is within the noise of 500 images. uint8 weights (u8u8) avoid the saturation too but run 5x slower
than fp32 here; dynamic (weights-only) quantization runs ConvInteger, also far slower than fp32.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from tagsight.engine.evaluation import read_labels
from tagsight.engine.model import ImageModel, ModelSpec, default_model_spec
from tagsight.engine.preprocess import load_tensor

try:
    from calibration_images import calibration_tensors
except ImportError:  # run as a module: python -m benchmarks.bench_precision
    from benchmarks.calibration_images import calibration_tensors

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "imagenet-dev"
METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
           "entropy": CalibrationMethod.Entropy}


class Batches(CalibrationDataReader):
    def __init__(self, tensors: np.ndarray, batch: int = 8) -> None:
        self._feeds = iter([{"image": tensors[i:i + batch]} for i in range(0, len(tensors), batch)])

    def get_next(self):
        return next(self._feeds, None)


def quantize(source: ModelSpec, target: Path, *, method: str = "minmax", calibration: str = "samples",
             reduce_range: bool = True, float_first: bool = True) -> ModelSpec:
    """Write an int8 copy of `source` to `target`; returns its spec (same preprocessing and outputs)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prep.onnx"
        quant_pre_process(str(source.path), str(prepared), skip_symbolic_shape=True)
        nodes = onnx.load(str(prepared)).graph.node
        exclude = [n.name for n in nodes if n.op_type in ("Gemm", "MatMul")]  # the 1000-way logits head
        if float_first:  # the stem conv and the first MBConv block: 7-bit weights hurt most there
            exclude += [n.name for n in nodes if n.name.startswith(("/_conv_stem/", "/_blocks.0/"))]
        quantize_static(str(prepared), str(target), Batches(calibration_tensors(source.preprocess, calibration)),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=exclude, calibrate_method=METHODS[method],
                        extra_options={"CalibPercentile": 99.999} if method == "percentile" else None)
    suffix = f"int8-{method}-{calibration}" + ("-rr" if reduce_range else "") + ("-fpfirst" if float_first else "")
    return dataclasses.replace(source, id=f"{source.id}-{suffix}", path=target, sha256="")


def speeds(models: list[ImageModel], tensors: np.ndarray, batch: int, repeats: int = 5) -> list[float]:
    """images/s of each model on the same tensors, the models interleaved, best of `repeats`."""
    best = [0.0] * len(models)
    for model in models:
        model.run(tensors[:batch])
    for _ in range(repeats):
        for k, model in enumerate(models):
            start = time.perf_counter()
            for i in range(0, len(tensors), batch):
                model.run(tensors[i:i + batch])
            best[k] = max(best[k], len(tensors) / (time.perf_counter() - start))
    return best


def hits(logits: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    top5 = np.argsort(-logits, axis=1)[:, :5]
    return float((top5[:, 0] == truth).mean()), float((top5 == truth[:, None]).any(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--method", choices=sorted(METHODS), default="minmax")
    parser.add_argument("--calibration", choices=("samples", "generated", "both"), default="samples")
    parser.add_argument("--no-reduce-range", dest="reduce_range", action="store_false")
    parser.add_argument("--quantize-all", dest="float_first", action="store_false",
                        help="quantize the stem and block 0 too (default: they stay float)")
    parser.add_argument("--save", type=Path, help="also keep the int8 model at this path")
    args = parser.parse_args()
    fp32 = default_model_spec()
    images = read_labels(args.folder)
    tensors = np.stack([load_tensor(image.path, fp32.preprocess) for image in images])
    truth = np.array([image.class_index for image in images])
    with tempfile.TemporaryDirectory() as tmp:
        target = args.save or Path(tmp) / "int8.onnx"
        start = time.perf_counter()
        int8 = quantize(fp32, target, method=args.method, calibration=args.calibration,
                        reduce_range=args.reduce_range, float_first=args.float_first)
        seconds = time.perf_counter() - start
        models = [ImageModel(fp32), ImageModel(int8)]
        results = [hits(np.concatenate([m.run(tensors[i:i + 16])[0] for i in range(0, len(tensors), 16)]), truth)
                   for m in models]
        batch16 = speeds(models, tensors[:128], 16)
        batch1 = speeds(models, tensors[:32], 1)
        print(f"{len(images)} images in {args.folder}; int8 quantized in {seconds:.1f} s")
        for model, (hit1, hit5), fast, single in zip(models, results, batch16, batch1):
            print(f"{model.spec.id:>58}: hit@1 {hit1:.3f}  hit@5 {hit5:.3f}  {fast:6.1f} img/s (batch 16)  "
                  f"{single:6.1f} img/s (batch 1)  {model.spec.path.stat().st_size / 1e6:.1f} MB")
        (h1, h5), (q1, q5) = results
        print(f"int8 - fp32: hit@1 {100 * (q1 - h1):+.1f} points, hit@5 {100 * (q5 - h5):+.1f} points; "
              f"speed-up {batch16[1] / batch16[0]:.2f}x (batch 16), {batch1[1] / batch1[0]:.2f}x (batch 1)")


if __name__ == "__main__":
    main()
