"""Writes tiny_classifier.onnx, no_input_ids.onnx and rank1_input_ids.onnx, the fixtures
for the runtime tests (run once; the files are committed).

A toy "classifier" with the inputs and output of a BERT export, small enough to recompute by hand:
  h[b,t]    = E[input_ids[b,t] mod 16] + T[token_type_ids[b,t]]
  pooled[b] = sum_t mask[b,t] * h[b,t] / sum_t mask[b,t]
  logits[b] = pooled[b] @ W + B
The sequence axis is fixed at 16 (like an export padded to max_length) and `pooled` is listed
before `logits`, so the tests see both the re-padding and the choice of the output by name.
The formulas for E, T, W and B are repeated in src/runtime/tests.rs.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEQ = 16
E = np.array([[((i * 7 + j * 3) % 11) / 4.0 - 1.0 for j in range(4)] for i in range(16)], dtype=np.float32)
T = np.array([[0.5 * k - 0.25 * j for j in range(4)] for k in range(2)], dtype=np.float32)
W = np.array([[(((j + 1) * (c + 2)) % 5) / 2.0 - 1.0 for c in range(3)] for j in range(4)], dtype=np.float32)
B = np.array([0.1, -0.2, 0.3], dtype=np.float32)

inits = [
    numpy_helper.from_array(E, "E"),
    numpy_helper.from_array(T, "T"),
    numpy_helper.from_array(W, "W"),
    numpy_helper.from_array(B, "B"),
    numpy_helper.from_array(np.array(16, dtype=np.int64), "vocab"),
    numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
    numpy_helper.from_array(np.array([1], dtype=np.int64), "seq_axis"),
]
nodes = [
    helper.make_node("Mod", ["input_ids", "vocab"], ["ids_mod"]),
    helper.make_node("Gather", ["E", "ids_mod"], ["emb"]),
    helper.make_node("Gather", ["T", "token_type_ids"], ["tt"]),
    helper.make_node("Add", ["emb", "tt"], ["h"]),
    helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
    helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask_3d"]),
    helper.make_node("Mul", ["h", "mask_3d"], ["hm"]),
    helper.make_node("ReduceSum", ["hm", "seq_axis"], ["summed"], keepdims=0),
    helper.make_node("ReduceSum", ["mask_3d", "seq_axis"], ["count"], keepdims=0),
    helper.make_node("Div", ["summed", "count"], ["pooled"]),
    helper.make_node("MatMul", ["pooled", "W"], ["projected"]),
    helper.make_node("Add", ["projected", "B"], ["logits"]),
]
inputs = [
    helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", SEQ])
    for name in ("input_ids", "attention_mask", "token_type_ids")
]
outputs = [
    helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 4]),
    helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
]
graph = helper.make_graph(nodes, "tiny_classifier", inputs, outputs, inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="exp-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "tiny_classifier.onnx")


def write_bad(file_name, input_names, shape):
    """A model exp must refuse: a wrong input name or rank (it casts its first input to float logits)."""
    graph = helper.make_graph(
        [helper.make_node("Cast", [input_names[0]], ["logits"], to=TensorProto.FLOAT)],
        "bad_inputs",
        [helper.make_tensor_value_info(name, TensorProto.INT64, shape) for name in input_names],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)],
    )
    bad = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="exp-tests")
    bad.ir_version = 8
    onnx.checker.check_model(bad)
    onnx.save(bad, file_name)


write_bad("no_input_ids.onnx", ["tokens"], ["batch", "sequence"])
write_bad("rank1_input_ids.onnx", ["input_ids", "attention_mask"], ["sequence"])
