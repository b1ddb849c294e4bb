"""ONNX Runtime peer: one ConvTranspose node (opset 17), or with --conv2d one
Conv node (explicit pads, as F.conv2d), NCHW float32, CPU
execution provider, intra_op_num_threads = the thread count, timed as
tconv_bench times tconv.  Run with an interpreter that has onnxruntime, onnx
and numpy (pip install onnxruntime onnx numpy)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def model_for(s, w, b):
    if s.get("conv2d"):
        # Conv's W is (M, C/group, kH, kW): PyTorch's Conv2d layout as is.
        node = helper.make_node(
            "Conv", ["x", "w", "b"], ["y"], kernel_shape=[s["kh"], s["kw"]],
            strides=[s["sh"], s["sw"]], pads=[s["ph"], s["pw"], s["ph"], s["pw"]],
            group=s["groups"])
    else:
        node = helper.make_node(
            "ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[s["kh"], s["kw"]],
            strides=[s["sh"], s["sw"]], pads=[s["ph"], s["pw"], s["ph"], s["pw"]],
            output_padding=[s["oph"], s["opw"]], group=s["groups"])
    graph = helper.make_graph(
        [node], "ct2d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [s["n"], s["cin"], s["h"], s["w"]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [s["n"], s["cout"], s["hout"], s["wout"]])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def main():
    a = pc.arg_parser(__doc__).parse_args()
    pc.emit(a.out, {"info": {"peer": "ort", "version": ort.__version__, "threads": a.threads}})
    cg = a.check_gflop if a.check_gflop is not None else (0.1 if a.quick else 0.4)
    for s in pc.selected(pc.read_shapes(a.shapes, a.conv2d), a.only):
        x, w, b = pc.make_data(s)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(model_for(s, w, b), so, providers=["CPUExecutionProvider"])
        feed = {"x": x}
        y = sess.run(None, feed)[0]
        err, k = pc.check(s, y, x, w, b, cg)
        st = pc.time_stats(lambda: sess.run(None, feed), a.quick, a.min_time, a.min_reps)
        pc.emit(a.out, dict({"peer": "ort", "shape": s["name"], "threads": a.threads,
                             "err": err, "checked_images": k}, **st))


if __name__ == "__main__":
    main()
