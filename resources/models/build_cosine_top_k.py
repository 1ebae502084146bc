"""Build `cosine_top_k.onnx`, the ranking kernel run by `tagsight.engine.ranking.CosineTopK`.

    python resources/models/build_cosine_top_k.py   # needs the onnx package (pip install .[export])

Three nodes: scores = points @ labels_t; scores[i, offset_columns[i, j]] += offset_values[i, j]
(a learned projection's per-label terms; zero columns under ConSE; ScatterElements has `reduction`
from opset 16); then the k best per row, best first. onnxruntime runs them with its own sgemm and
TopK on every core, and the (images x labels) score matrix never reaches Python. tests/engine/test_conse_ranking.py checks that this file
is what this script builds.
"""

from __future__ import annotations

from pathlib import Path

GRAPH_FILE = Path(__file__).with_name("cosine_top_k.onnx")


def build() -> bytes:
    from onnx import TensorProto, checker, helper

    def tensor(name: str, kind: int, shape: list[str]):  # type: ignore[no-untyped-def]
        return helper.make_tensor_value_info(name, kind, shape)

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["points", "labels_t"], ["cosines"]),
            helper.make_node("ScatterElements", ["cosines", "offset_columns", "offset_values"], ["scores"],
                             axis=1, reduction="add"),
            helper.make_node("TopK", ["scores", "k"], ["values", "indices"], axis=1, largest=1, sorted=1),
        ],
        "cosine_top_k",
        [
            tensor("points", TensorProto.FLOAT, ["n", "d"]),
            tensor("labels_t", TensorProto.FLOAT, ["d", "m"]),
            tensor("offset_columns", TensorProto.INT64, ["n", "c"]),
            tensor("offset_values", TensorProto.FLOAT, ["n", "c"]),
            tensor("k", TensorProto.INT64, [1]),
        ],
        [tensor("values", TensorProto.FLOAT, ["n", "k"]), tensor("indices", TensorProto.INT64, ["n", "k"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], producer_name="tagsight")
    model.ir_version = 8  # readable by every onnxruntime tagsight supports (>= 1.17)
    checker.check_model(model)
    return model.SerializeToString()


if __name__ == "__main__":
    GRAPH_FILE.write_bytes(build())
    print(f"wrote {GRAPH_FILE} ({GRAPH_FILE.stat().st_size} bytes)")
