"""fp32 vs a static INT8 quantization of the bundled model, measured in one run.

    python benchmarks/bench_precision.py [EVAL_FOLDER] [--method minmax|percentile|entropy]

Quantizes the bundled model with onnxruntime's static quantization (QDQ, per-channel weights, the
logits head left in float) into a temporary folder, calibrated on the bundled sample photos only
(each in 24 random crops/flips/brightness/colour variants; never evaluation images), then prints
images/s on prepared tensors (batch 16) and the CNN's hit@1/hit@5 on EVAL_FOLDER (default
../shared/eval/imagenet-dev) for both. tagsight ships int8 only if the loss is at most one point.
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
from PIL import Image, ImageEnhance

from tagsight.engine.evaluation import read_labels
from tagsight.engine.model import ImageModel, ModelSpec, default_model_spec
from tagsight.engine.preprocess import PreprocessSpec, load_tensor, resize_center_crop, to_rgb, to_tensor

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "imagenet-dev"
SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
           "entropy": CalibrationMethod.Entropy}


class SampleVariants(CalibrationDataReader):
    def __init__(self, spec: PreprocessSpec, variants: int = 24) -> None:
        rng = np.random.default_rng(0)
        feeds = []
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
                feeds.append({"image": to_tensor(resize_center_crop(variant, spec.resize, spec.size), spec)[None]})
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def quantize(source: ModelSpec, folder: Path, method: str) -> ModelSpec:
    import onnx

    prepared, target = folder / "prep.onnx", folder / "int8.onnx"
    quant_pre_process(str(source.path), str(prepared), skip_symbolic_shape=True)
    head = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type in ("Gemm", "MatMul")]
    quantize_static(str(prepared), str(target), SampleVariants(source.preprocess),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=head, calibrate_method=METHODS[method])
    return dataclasses.replace(source, id=f"{source.id}-int8-{method}", path=target, sha256="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--method", choices=sorted(METHODS), default="minmax")
    args = parser.parse_args()
    fp32 = default_model_spec()
    images = read_labels(args.folder)
    tensors = np.stack([load_tensor(image.path, fp32.preprocess) for image in images])
    truth = np.array([image.class_index for image in images])
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (fp32, quantize(fp32, Path(tmp), args.method)):
            model = ImageModel(spec)
            model.run(tensors[:16])
            start = time.perf_counter()
            logits = np.concatenate([model.run(tensors[i:i + 16])[0] for i in range(0, len(tensors), 16)])
            rate = len(tensors) / (time.perf_counter() - start)
            top5 = np.argsort(-logits, axis=1)[:, :5]
            hit1 = float((top5[:, 0] == truth).mean())
            hit5 = float((top5 == truth[:, None]).any(axis=1).mean())
            print(f"{spec.id:>44}: {rate:6.1f} img/s  hit@1 {hit1:.3f}  hit@5 {hit5:.3f}  "
                  f"({spec.path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
