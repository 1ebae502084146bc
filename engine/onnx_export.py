"""The whole tagger as one ONNX graph: image tensor -> CNN -> projection -> one score per label.

The CNN's graph is kept as it is; the projection and the ranking are appended to it with the same
arithmetic as `Ranker.scores` (ConSE's top-T softmax mix of class vectors; for a learned projection
its feature map, linear map and per-label terms) and a cosine against the vocabulary's vectors. The
output `scores` (images, labels) follows the label order stored as JSON in the metadata key `labels`.
Needs the `onnx` package (only here, to build the graph).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tagsight.engine.learned import LearnedProjection
from tagsight.engine.model import ModelSpec
from tagsight.engine.ranking import Ranker

SCORES = "scores"
EPSILON = 1e-12


class _Builder:
    """Appends nodes and constants to a graph under fresh names."""

    def __init__(self, graph: Any) -> None:
        from onnx import helper, numpy_helper

        self.graph, self.helper, self.numpy_helper = graph, helper, numpy_helper
        self.count = 0

    def const(self, array: Any, dtype: Any = np.float32) -> str:
        name = self._name("const")
        self.graph.initializer.append(self.numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs: Any) -> Any:
        names = [name] if name else [self._name(op_type.lower()) for _ in range(outputs)]
        self.graph.node.append(self.helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def unit(self, x: str) -> str:
        """Rows scaled to unit length (a zero row stays zero), as `normalize_rows`."""
        norm = self.op("ReduceL2", x, axes=[1], keepdims=1)
        return self.op("Div", x, self.op("Max", norm, self.const(EPSILON)))

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"tagger/{kind}_{self.count}"


def export_tagger(spec: ModelSpec, ranker: Ranker, file: Path) -> None:
    """Write the CNN of `spec` followed by `ranker`'s projection and vocabulary to `file`."""
    import onnx

    model = onnx.load(str(spec.path))
    graph = model.graph
    b = _Builder(graph)
    point = _conse(b, ranker, spec.logits_name)
    learned = ranker.learned
    if learned is not None:
        phi = _features(b, learned, spec.logits_name, spec.features_name)
        point = b.op("Add", b.unit(point), b.op("MatMul", phi, b.const(learned.map_)))
    scores = b.op("MatMul", b.unit(point), b.const(ranker.vocabulary.matrix.T))
    if learned is not None and len(ranker.term_columns):
        terms = _label_terms(b, learned, phi)
        terms = b.op("Gather", terms, b.const(ranker.term_rows, np.int64), axis=1)
        columns = b.op("Expand", b.const(ranker.term_columns[None, :], np.int64), b.op("Shape", terms))
        scores = b.op("ScatterElements", scores, columns, terms, axis=1, reduction="add")
    b.op("Identity", scores, name=SCORES)
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(SCORES, onnx.TensorProto.FLOAT, ["N", len(ranker.vocabulary.labels)]))
    meta = {"labels": json.dumps(list(ranker.vocabulary.labels), ensure_ascii=False), "backend": ranker.vocabulary.backend,
            "projection": "conse" if ranker.version is None else f"learned:{ranker.version}", "cnn": spec.id}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    file.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(file))


def _conse(b: _Builder, ranker: Ranker, logits: str) -> str:
    """ConSE's point: the top-T usable classes' vectors mixed by a softmax over their logits."""
    conse = ranker.projection
    usable = np.where(conse.usable_, 0.0, -np.inf).astype(np.float32)[None, :]
    top_t = min(conse.top_t, int(conse.usable_.sum()))
    values, classes = b.op("TopK", b.op("Add", logits, b.const(usable)), b.const([top_t], np.int64),
                           outputs=2, axis=1, largest=1, sorted=1)
    weights = b.op("Softmax", values, axis=1)
    vectors = b.op("Gather", b.const(conse.class_vectors_), classes, axis=0)
    return b.op("Einsum", weights, vectors, equation="nt,ntd->nd")


def _features(b: _Builder, learned: LearnedProjection, logits: str, features: str) -> str:
    """phi, as `FeatureMap.transform`."""
    fm = learned.feature_map_
    root = b.op("Sub", b.op("Sqrt", b.op("Max", features, b.const(0.0))), b.const(fm.feature_mean_))
    centred = b.op("Sub", logits, b.const(fm.logit_mean_))
    joined = b.op("Concat", b.unit(root), b.unit(centred), axis=1)
    reduced = b.op("MatMul", b.op("Sub", joined, b.const(fm.mean_)), b.const(fm.components_))
    return b.op("Div", reduced, b.const(fm.scale_))


def _label_terms(b: _Builder, learned: LearnedProjection, phi: str) -> str:
    """b + gamma (k - tau) per label, as `LearnedProjection.label_terms`."""
    protos = learned.prototypes_
    h = learned.bandwidth
    owner = np.zeros((len(protos.points), len(learned.labels_)), np.float32)
    owner[np.arange(len(protos.points)), protos.label] = protos.count
    total = owner.sum(axis=0)
    cos = b.op("MatMul", b.unit(phi), b.const(protos.points.T))
    mass = b.op("MatMul", b.op("Exp", b.op("Div", b.op("Sub", cos, b.const(1.0)), b.const(h))), b.const(owner))
    share = b.op("Div", b.op("Max", mass, b.const(1e-37)), b.const(np.maximum(total, 1.0)))
    soft = b.op("Add", b.op("Mul", b.op("Log", share), b.const(h)), b.const(1.0))
    present = (total > 0).astype(np.float32)  # a label without prototypes gets its bias only
    term = b.op("Mul", b.op("Sub", soft, b.const(learned.threshold_)), b.const(learned.label_weight_ * present))
    return b.op("Add", term, b.const(learned.label_bias_))
