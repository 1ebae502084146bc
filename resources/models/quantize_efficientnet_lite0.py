#!/usr/bin/env python3
"""Build `efficientnet-lite0-int8.onnx` and its manifest, what `--precision int8` runs.

A build-time tool (it needs the onnx package: `pip install .[export]`); run from the repository root:

    python resources/models/quantize_efficientnet_lite0.py

onnxruntime static quantization of the fp32 model, with the setting `benchmarks/bench_precision.py`
chose and measures: QDQ, uint8 activations, per-channel int8 weights with reduce_range (7-bit: the
u8s8 kernels of CPUs without VNNI saturate with full 8-bit weights), MinMax calibration on the bundled
sample photos in 24 random variants each (never evaluation images), the logits head and the first
layers (stem conv and block 0) left in float. Measured on ../shared/eval/imagenet-dev: CNN hit@1
0.882 vs 0.888 fp32, hit@5 0.972 vs 0.970, 1.6x images/s on two AVX2 cores.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FP32_MANIFEST = HERE / "efficientnet-lite0.json"
INT8_FILE = HERE / "efficientnet-lite0-int8.onnx"
INT8_MANIFEST = HERE / "efficientnet-lite0-int8.json"


def main() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_precision import quantize  # the one implementation of the setting it measures

    from tagsight.engine.model import ModelSpec

    fp32 = ModelSpec.from_manifest(FP32_MANIFEST)
    quantize(fp32, INT8_FILE)
    manifest = json.loads(FP32_MANIFEST.read_text(encoding="utf-8"))
    manifest.update(
        id=f"{manifest['id']}-int8",
        file=INT8_FILE.name,
        sha256=hashlib.sha256(INT8_FILE.read_bytes()).hexdigest(),
        precision="int8",
        quantization={
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "activations": "uint8",
            "weights": "int8 per-channel, reduce_range",
            "calibration": "MinMax; resources/samples, 24 random variants each",
            "kept_float": ["logits Gemm", "/_conv_stem/", "/_blocks.0/"],
            "from": {"file": FP32_MANIFEST.name, "sha256": manifest["sha256"]},
        },
    )
    INT8_MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {INT8_FILE} ({INT8_FILE.stat().st_size:,} bytes) and {INT8_MANIFEST.name}")


if __name__ == "__main__":
    main()
