#!/usr/bin/env python3
"""Check the bundled EfficientNet-Lite0 ONNX model with plain onnxruntime + Pillow + numpy.

Runs in tagsight's own (torch-free) environment::

    python resources/models/verify_onnx.py
    python resources/models/verify_onnx.py --eval-dir /path/to/eval --interpolations bilinear,bicubic

1. The .onnx file's sha256 must equal the one in efficientnet-lite0.json, and its
   input/outputs must be ``image`` [N,3,224,224] -> ``logits`` [N,1000], ``features`` [N,1280].
2. Every photo in resources/samples/ is classified (shorter side resized to the
   manifest's ``resize``, center crop ``input_size``, ``(pixel - mean) / std`` with
   pixels in 0..255, RGB, CHW) and its top-3 ImageNet classes are printed; the
   top-1 must be the class listed in EXPECTED_TOP1.
3. If an evaluation folder is found (``--eval-dir`` if given, else the first of
   $TAGSIGHT_EVAL_DIR, /work/shared/eval, ../shared/eval beside the repository) the script reports
   hit@1 / hit@5 of the CNN's own softmax on ``imagenet-dev/labels.csv``
   (columns file,class_index,wnid,names) with two normalizations: the manifest's
   (Lite models: mean 127, std 128) and the usual ImageNet mean/std. With no such
   folder this part is skipped and the script still succeeds.

Exit status: 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
RESOURCES = HERE.parent
MANIFEST = HERE / "efficientnet-lite0.json"
CLASSES_TSV = RESOURCES / "imagenet1k" / "classes.tsv"
SAMPLES = RESOURCES / "samples"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

# ImageNet mean/std, the usual torchvision values, on the 0..255 pixel scale.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

# Acceptable top-1 ImageNet class indices per bundled sample photo (manifest preprocessing,
# lite normalization). Sets where neighbouring classes are equally right (cat breeds, missiles).
EXPECTED_TOP1 = {
    "camera.png": {872},  # tripod
    "chelsea.jpg": {281, 282, 283, 284, 285},  # tabby / tiger / Persian / Siamese / Egyptian cat
    "china.jpg": {698},  # palace
    "coffee.jpg": {967},  # espresso
    "flower.jpg": {985},  # daisy
    "rocket.jpg": {657, 744},  # missile / projectile, missile
}

INTERP = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_classes() -> list[str]:
    with open(CLASSES_TSV, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [int(r["index"]) for r in rows] == list(range(1000)), "classes.tsv must list indices 0..999"
    return [r["names"] for r in rows]


def crop(path: Path, resize: int, size: int, interpolation: str) -> np.ndarray:
    """Decode to RGB, shorter side -> `resize`, center crop `size`; uint8 HWC."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        w, h = im.size
        scale = resize / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), INTERP[interpolation])
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8)


def normalize(crops: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW, (pixel - mean) / std."""
    x = (crops.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def run(sess: ort.InferenceSession, x: np.ndarray, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    logits, feats = [], []
    for i in range(0, len(x), batch):
        lo, fe = sess.run(["logits", "features"], {"image": x[i : i + batch]})
        logits.append(lo)
        feats.append(fe)
    return np.concatenate(logits), np.concatenate(feats)


def find_eval_dir(arg: str | None) -> Path | None:
    """The folder holding imagenet-dev/labels.csv, or None. An explicit --eval-dir is the only
    candidate when given; otherwise $TAGSIGHT_EVAL_DIR, /work/shared/eval, ../shared/eval."""
    if arg:
        candidates = [arg]
    else:
        candidates = [
            os.environ.get("TAGSIGHT_EVAL_DIR"),
            "/work/shared/eval",
            str(RESOURCES.parent.parent / "shared" / "eval"),
        ]
    for c in candidates:
        if c and (Path(c) / "imagenet-dev" / "labels.csv").is_file():
            return Path(c)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", default=None, help="folder holding imagenet-dev/labels.csv (only this one is tried)")
    ap.add_argument("--interpolations", default="bilinear", help="comma list among bilinear,bicubic")
    ap.add_argument("--resizes", default="", help="comma list of resize sides to compare on the eval set (default: the manifest's)")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = default)")
    args = ap.parse_args()
    ok = True

    meta = json.loads(MANIFEST.read_text(encoding="utf-8"))
    onnx_path = HERE / meta["file"]
    digest = sha256_of(onnx_path)
    print(f"{onnx_path.name}: {onnx_path.stat().st_size} bytes, sha256 {digest}")
    if digest != meta["sha256"]:
        print(f"FAIL: sha256 differs from the manifest ({meta['sha256']})")
        ok = False

    so = ort.SessionOptions()
    if args.threads:
        so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(onnx_path), sess_options=so, providers=["CPUExecutionProvider"])
    sig_in = [(i.name, i.shape) for i in sess.get_inputs()]
    sig_out = [(o.name, o.shape) for o in sess.get_outputs()]
    print(f"inputs {sig_in} outputs {sig_out}")
    size, resize = int(meta["input_size"]), meta["resize"]
    if sig_in[0][0] != meta["input"] or sig_in[0][1][1:] != [3, size, size]:
        print("FAIL: unexpected input signature")
        ok = False
    if [n for n, _ in sig_out] != [meta["outputs"]["logits"], meta["outputs"]["features"]]:
        print("FAIL: unexpected output names")
        ok = False

    classes = load_classes()
    norms = {
        "lite (127/128)": (meta["mean"], meta["std"]),
        "imagenet mean/std": (IMAGENET_MEAN, IMAGENET_STD),
    }
    interps = [s.strip() for s in args.interpolations.split(",") if s.strip()]

    # --- sample photos -------------------------------------------------------------
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    print(f"\nsample photos ({len(samples)}) — resize {resize}, crop {size}, {interps[0]}:")
    crops = np.stack([crop(p, resize, size, interps[0]) for p in samples])
    for norm_name, (mean, std) in norms.items():
        logits, feats = run(sess, normalize(crops, mean, std))
        probs = softmax(logits)
        print(f"  [{norm_name}]")
        for p, pr in zip(samples, probs):
            top = np.argsort(-pr)[:3]
            shown = "; ".join(f"{i} {classes[i]!r} {pr[i]:.3f}" for i in top)
            print(f"    {p.name:16s} {shown}")
            if norm_name.startswith("lite") and p.name in EXPECTED_TOP1 and top[0] not in EXPECTED_TOP1[p.name]:
                print(f"    FAIL: expected top-1 in {sorted(EXPECTED_TOP1[p.name])}")
                ok = False
        # features -> logits consistency on real images: logits = features @ W.T + b holds inside the
        # graph; here just check the features are finite and non-trivial
        if not np.isfinite(feats).all() or float(np.abs(feats).max()) == 0.0:
            print("FAIL: features are not finite / all zero")
            ok = False

    # --- evaluation set ------------------------------------------------------------
    eval_dir = find_eval_dir(args.eval_dir)
    if eval_dir is None:
        print("\nevaluation: skipped (no imagenet-dev/labels.csv found)")
        return 0 if ok else 1
    with open(eval_dir / "imagenet-dev" / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["class_index"]) for r in rows])
    names_ok = all(classes[int(r["class_index"])] == r["names"] for r in rows)
    print(f"\nevaluation: {len(rows)} images in {eval_dir / 'imagenet-dev'}; names agree with classes.tsv: {names_ok}")
    ok &= names_ok
    resizes = [int(v) for v in args.resizes.split(",") if v.strip()] or [resize]
    for interp, rs in ((i, r) for r in resizes for i in interps):
        t0 = time.perf_counter()
        crops = np.stack([crop(eval_dir / "imagenet-dev" / r["file"], rs, size, interp) for r in rows])
        t_pre = time.perf_counter() - t0
        for norm_name, (mean, std) in norms.items():
            t0 = time.perf_counter()
            logits, _ = run(sess, normalize(crops, mean, std))
            t_inf = time.perf_counter() - t0
            order = np.argsort(-logits, axis=1)
            hit1 = float((order[:, 0] == y).mean())
            hit5 = float((order[:, :5] == y[:, None]).any(axis=1).mean())
            p_true = softmax(logits)[np.arange(len(y)), y]
            print(
                f"  resize {rs} {interp:8s} {norm_name:18s} hit@1 {hit1:.3f}  hit@5 {hit5:.3f}  "
                f"mean p(true) {p_true.mean():.3f}  ({len(y) / t_pre:.0f} img/s preprocess, {len(y) / t_inf:.0f} img/s ORT)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
