"""The peers a user installs today, forward ConvTranspose2d (seed-shapes.txt)
or with --conv2d Conv2d (conv2d-shapes.txt), float32, timed as tconv_bench
times tconv, each output checked against a float64 numpy oracle of the same
float32 data.  Run with the interpreter of the peers' virtualenv
(bench/setup_peers.sh); one peer and one thread count per process:

  --peer torch2    PyTorch 2.x: eager NCHW (F.conv_transpose2d / F.conv2d),
                   eager channels_last (input and weights channels_last, as
                   module.to(memory_format=torch.channels_last) gives), and
                   torch.compile of the module with frozen weights
                   (torch._inductor.config.freezing = True, under no_grad)
  --peer openvino  OpenVINO: one (Group)ConvolutionBackpropData or
                   (Group)Convolution node + bias, CPU plugin,
                   INFERENCE_NUM_THREADS = T, f32 precision, latency hint
  --peer litert    LiteRT with its XNNPACK delegate: a one-op .tflite written
                   with the flatbuffers schema the wheel ships; NHWC (the
                   model alone) and NCHW (TRANSPOSE ops around it)
  --peer ort       ONNX Runtime: one ConvTranspose / Conv node, CPU provider

With --backward --data DIR (torch2 only): torch.autograd.grad of the output
w.r.t. (input, weight, bias) given grad_output, on the data and float64
references of bench/bwd_reference.py (bench/run.sh --backward).

Output: JSON lines {"peer", "variant", "layout", "shape", "threads",
"median_ms", "min_ms", "reps", "cpu_per_wall", "err", ...}; "layout" is
"nchw" (NCHW in, NCHW out: comparable end to end) or "nhwc" (the peer's own
layout, data given and taken in it)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

import numpy as np  # noqa: E402


def record(a, peer, variant, layout, s, stats, err, k, **extra):
    rec = {"peer": peer, "variant": variant, "layout": layout, "shape": s["name"],
           "threads": a.threads, "err": err, "checked_images": k}
    rec.update(stats)
    rec.update(extra)
    pc.emit(a.out, rec)


def skip(a, peer, variant, layout, s, why):
    pc.emit(a.out, {"peer": peer, "variant": variant, "layout": layout, "shape": s["name"],
                    "threads": a.threads, "skipped": why})


def conv_kwargs(s):
    kw = dict(stride=(s["sh"], s["sw"]), padding=(s["ph"], s["pw"]), groups=s["groups"])
    if not s["conv2d"]:
        kw["output_padding"] = (s["oph"], s["opw"])
    return kw


# ---- PyTorch 2.x --------------------------------------------------------------

def run_torch2(a, shapes, cg):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    info = {"peer": "torch2", "version": torch.__version__, "threads": a.threads,
            "torch_threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "cuda": torch.cuda.is_available()}
    pc.emit(a.out, {"info": info})
    import torch._inductor.config as icfg
    icfg.freezing = True
    for s in shapes:
        x, w, b = pc.make_data(s)
        xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        kw = conv_kwargs(s)
        fn = F.conv2d if s["conv2d"] else F.conv_transpose2d
        with torch.no_grad():
            # eager, NCHW
            y = fn(xt, wt, bt, **kw)
            err, k = pc.check(s, y.numpy(), x, w, b, cg)
            st = pc.time_stats(lambda: fn(xt, wt, bt, **kw), a.quick, a.min_time, a.min_reps)
            record(a, "torch2", "eager", "nchw", s, st, err, k)
            # eager, channels_last (data and weights), output channels_last
            xc = xt.contiguous(memory_format=torch.channels_last)
            wc = wt.contiguous(memory_format=torch.channels_last)
            y = fn(xc, wc, bt, **kw)
            err, k = pc.check(s, y.contiguous().numpy(), x, w, b, cg)
            st = pc.time_stats(lambda: fn(xc, wc, bt, **kw), a.quick, a.min_time, a.min_reps)
            record(a, "torch2", "eager_cl", "nhwc", s, st, err, k,
                   out_channels_last=y.is_contiguous(memory_format=torch.channels_last))
        if a.no_compile:
            continue
        # torch.compile of the module, weights frozen into the graph.
        if s["conv2d"]:
            mod = torch.nn.Conv2d(s["cin"], s["cout"], (s["kh"], s["kw"]), **conv_kwargs(s))
        else:
            mod = torch.nn.ConvTranspose2d(s["cin"], s["cout"], (s["kh"], s["kw"]),
                                           **conv_kwargs(s))
        with torch.no_grad():
            mod.weight.copy_(wt)
            mod.bias.copy_(bt)
        mod.eval()
        torch._dynamo.reset()
        try:
            cm = torch.compile(mod)
            with torch.no_grad():
                t0 = time.perf_counter()
                y = cm(xt)
                compile_s = time.perf_counter() - t0
                err, k = pc.check(s, y.contiguous().numpy(), x, w, b, cg)
                st = pc.time_stats(lambda: cm(xt), a.quick, a.min_time, a.min_reps)
            record(a, "torch2", "compile", "nchw", s, st, err, k, compile_s=compile_s)
        except Exception as e:  # a peer that cannot run a shape is reported, not fatal
            skip(a, "torch2", "compile", "nchw", s, f"{type(e).__name__}: {str(e)[:200]}")


def load_bwd(data_dir, s):
    """What bench/bwd_reference.py wrote for shape s: float32 x, w, b, gy and
    float64 references y, gx, gw, gb (PyTorch shapes)."""
    n, ci, co = s["n"], s["cin"], s["cout"]
    wshape = ((co, ci // s["groups"]) if s["conv2d"] else (ci, co // s["groups"])) + \
        (s["kh"], s["kw"])
    shapes = {"x": (n, ci, s["h"], s["w"]), "w": wshape, "b": (co,),
              "gy": (n, co, s["hout"], s["wout"]), "y": (n, co, s["hout"], s["wout"]),
              "gx": (n, ci, s["h"], s["w"]), "gw": wshape, "gb": (co,)}
    out = {}
    for k, shp in shapes.items():
        ext = "f32" if k in ("x", "w", "b", "gy") else "f64"
        out[k] = np.fromfile(os.path.join(data_dir, f"{s['name']}.{k}.{ext}"),
                             dtype="<f4" if ext == "f32" else "<f8").reshape(shp)
    return out


def rel_err(v, ref):
    v = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        return float("inf")
    return float(np.max(np.abs(v - ref)) / max(np.max(np.abs(ref)), 1e-30))


def run_torch2_backward(a, shapes):
    """torch.autograd.grad of the output w.r.t. (input, weight, bias) given
    grad_output, the graph kept (retain_graph), so only the backward is
    timed: grad_input + grad_weight + grad_bias.  NCHW and channels_last."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    pc.emit(a.out, {"info": {"peer": "torch2", "version": torch.__version__,
                             "threads": a.threads, "torch_threads": torch.get_num_threads()}})
    for s in shapes:
        d = load_bwd(a.data, s)
        kw = conv_kwargs(s)
        fn = F.conv2d if s["conv2d"] else F.conv_transpose2d
        for variant, layout, mf in (("eager", "nchw", torch.contiguous_format),
                                    ("eager_cl", "nhwc", torch.channels_last)):
            xt = torch.from_numpy(d["x"]).contiguous(memory_format=mf).requires_grad_(True)
            wt = torch.from_numpy(d["w"]).contiguous(memory_format=mf).requires_grad_(True)
            bt = torch.from_numpy(d["b"]).clone().requires_grad_(True)
            gyt = torch.from_numpy(d["gy"]).contiguous(memory_format=mf)
            y = fn(xt, wt, bt, **kw)
            fwd_err = rel_err(y.detach().contiguous().numpy(), d["y"])
            gx, gw, gb = torch.autograd.grad(y, (xt, wt, bt), gyt, retain_graph=True)
            errs = [rel_err(g.contiguous().numpy(), d[k]) for g, k in
                    ((gx, "gx"), (gw, "gw"), (gb, "gb"))]
            st = pc.time_stats(lambda: torch.autograd.grad(y, (xt, wt, bt), gyt,
                                                           retain_graph=True),
                               a.quick, a.min_time, a.min_reps)
            with torch.no_grad():
                fst = pc.time_stats(lambda: fn(xt, wt, bt, **kw), a.quick, a.min_time,
                                    a.min_reps)
            record(a, "torch2", variant, layout, s, st, max(errs), s["n"], err_gx=errs[0],
                   err_gw=errs[1], err_gb=errs[2], fwd_ms=fst["median_ms"], fwd_err=fwd_err,
                   gx_channels_last=gx.is_contiguous(memory_format=torch.channels_last))


# ---- OpenVINO -----------------------------------------------------------------

def run_openvino(a, shapes, cg):
    import openvino as ov
    import openvino.opset13 as ops
    core = ov.Core()
    pc.emit(a.out, {"info": {"peer": "openvino", "version": ov.get_version(),
                             "threads": a.threads}})
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "INFERENCE_PRECISION_HINT": "f32",
           "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    for s in shapes:
        x, w, b = pc.make_data(s)
        g = s["groups"]
        p = ops.parameter(list(x.shape), np.float32, name="x")
        strides, pads = [s["sh"], s["sw"]], [s["ph"], s["pw"]]
        if s["conv2d"]:
            if g == 1:
                c = ops.convolution(p, ops.constant(w), strides, pads, pads, [1, 1])
            else:  # (G, Cout/G, Cin/G, kh, kw)
                wg = w.reshape(g, s["cout"] // g, s["cin"] // g, s["kh"], s["kw"])
                c = ops.group_convolution(p, ops.constant(wg), strides, pads, pads, [1, 1])
        else:
            op = [s["oph"], s["opw"]]
            if g == 1:  # (Cin, Cout, kh, kw): PyTorch's layout as is
                c = ops.convolution_backprop_data(
                    p, ops.constant(w), strides, pads_begin=pads, pads_end=pads,
                    dilations=[1, 1], auto_pad="explicit", output_padding=op)
            else:
                wg = w.reshape(g, s["cin"] // g, s["cout"] // g, s["kh"], s["kw"])
                c = ops.group_convolution_backprop_data(
                    p, ops.constant(wg), strides, pads_begin=pads, pads_end=pads,
                    dilations=[1, 1], auto_pad="explicit", output_padding=op)
        y = ops.add(c, ops.constant(b.reshape(1, -1, 1, 1)))
        model = ov.Model([y], [p], "conv")
        cm = core.compile_model(model, "CPU", cfg)
        req = cm.create_infer_request()
        req.set_input_tensor(ov.Tensor(x, shared_memory=True))
        req.infer()
        out = req.get_output_tensor(0).data.copy()
        err, k = pc.check(s, out, x, w, b, cg)
        st = pc.time_stats(req.infer, a.quick, a.min_time, a.min_reps)
        impl = []  # the executed graph's nodes: layer type and kernel
        for node in cm.get_runtime_model().get_ordered_ops():
            rt = node.get_rt_info()
            lt = rt["layerType"].astype(str) if "layerType" in rt else "?"
            if lt not in ("Input", "Output", "Parameter", "Result", "Const"):
                impl.append(lt + (":" + rt["primitiveType"].astype(str)
                                  if "primitiveType" in rt else ""))
        impl = "/".join(impl)
        record(a, "openvino", "ov", "nchw", s, st, err, k, impl=impl)


# ---- LiteRT (XNNPACK) -----------------------------------------------------------

class TFLiteBuilder:
    """Writes a small .tflite model with the wheel's flatbuffers schema
    (ai_edge_litert.schema_py_generated): float32 tensors, constant buffers,
    builtin operators."""

    def __init__(self):
        import flatbuffers
        from ai_edge_litert import schema_py_generated as sch
        self.sch, self.fb = sch, flatbuffers
        self.tensors, self.buffers, self.ops, self.opcodes = [], [b""], [], []

    def tensor(self, shape, data=None, dtype=np.float32, name=None):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buf = len(self.buffers) - 1
        ttype = {np.float32: self.sch.TensorType.FLOAT32,
                 np.int32: self.sch.TensorType.INT32}[dtype]
        self.tensors.append((list(shape), ttype, buf, name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, opt_fn=None):
        if code not in self.opcodes:
            self.opcodes.append(code)
        self.ops.append((self.opcodes.index(code), inputs, outputs, opt_type, opt_fn))

    def build(self, inputs, outputs):
        sch, b = self.sch, self.fb.Builder(1024)

        def ivec(start, vals):
            start(b, len(vals))
            for v in reversed(vals):
                b.PrependInt32(v)
            return b.EndVector()

        buf_offs = []
        for data in self.buffers:
            dv = b.CreateByteVector(data) if data else None
            sch.BufferStart(b)
            if dv is not None:
                sch.BufferAddData(b, dv)
            buf_offs.append(sch.BufferEnd(b))
        t_offs = []
        for shape, ttype, buf, name in self.tensors:
            nm = b.CreateString(name)
            sv = ivec(sch.TensorStartShapeVector, shape)
            sch.TensorStart(b)
            sch.TensorAddShape(b, sv)
            sch.TensorAddType(b, ttype)
            sch.TensorAddBuffer(b, buf)
            sch.TensorAddName(b, nm)
            t_offs.append(sch.TensorEnd(b))
        o_offs = []
        for opcode, ins, outs, opt_type, opt_fn in self.ops:
            opts = opt_fn(b) if opt_fn else None
            iv = ivec(sch.OperatorStartInputsVector, ins)
            ov_ = ivec(sch.OperatorStartOutputsVector, outs)
            sch.OperatorStart(b)
            sch.OperatorAddOpcodeIndex(b, opcode)
            sch.OperatorAddInputs(b, iv)
            sch.OperatorAddOutputs(b, ov_)
            if opts is not None:
                sch.OperatorAddBuiltinOptionsType(b, opt_type)
                sch.OperatorAddBuiltinOptions(b, opts)
            o_offs.append(sch.OperatorEnd(b))

        def ovec(start, offs):
            start(b, len(offs))
            for o in reversed(offs):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()

        tv = ovec(sch.SubGraphStartTensorsVector, t_offs)
        iv = ivec(sch.SubGraphStartInputsVector, inputs)
        ov_ = ivec(sch.SubGraphStartOutputsVector, outputs)
        opv = ovec(sch.SubGraphStartOperatorsVector, o_offs)
        sch.SubGraphStart(b)
        sch.SubGraphAddTensors(b, tv)
        sch.SubGraphAddInputs(b, iv)
        sch.SubGraphAddOutputs(b, ov_)
        sch.SubGraphAddOperators(b, opv)
        sg = sch.SubGraphEnd(b)
        oc_offs = []
        for code in self.opcodes:
            sch.OperatorCodeStart(b)
            sch.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            sch.OperatorCodeAddBuiltinCode(b, code)
            sch.OperatorCodeAddVersion(b, 3 if code == sch.BuiltinOperator.TRANSPOSE_CONV else 1)
            oc_offs.append(sch.OperatorCodeEnd(b))
        ocv = ovec(sch.ModelStartOperatorCodesVector, oc_offs)
        sgv = ovec(sch.ModelStartSubgraphsVector, [sg])
        bv = ovec(sch.ModelStartBuffersVector, buf_offs)
        desc = b.CreateString("tconv bench one-op model")
        sch.ModelStart(b)
        sch.ModelAddVersion(b, 3)
        sch.ModelAddOperatorCodes(b, ocv)
        sch.ModelAddSubgraphs(b, sgv)
        sch.ModelAddBuffers(b, bv)
        sch.ModelAddDescription(b, desc)
        b.Finish(sch.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def tflite_model(s, w, b, nchw):
    """One TRANSPOSE_CONV (ConvTranspose2d) or CONV_2D / DEPTHWISE_CONV_2D
    (Conv2d) on an NHWC input; TFLite knows SAME and VALID padding only, so
    PyTorch's padding becomes SAME where that gives the same output, else
    VALID and a SLICE that crops (ConvTranspose2d) or a PAD before
    (Conv2d).  nchw: TRANSPOSE to NHWC before and back after.  Returns
    (model bytes, how the padding was expressed) or (None, why not)."""
    m = TFLiteBuilder()
    sch = m.sch
    BO = sch.BuiltinOperator
    n, ci, h, wd, co = s["n"], s["cin"], s["h"], s["w"], s["cout"]
    kh, kw, sh, sw, ph, pw = s["kh"], s["kw"], s["sh"], s["sw"], s["ph"], s["pw"]
    ho, wo, g = s["hout"], s["wout"], s["groups"]
    if nchw:
        x_in = m.tensor([n, ci, h, wd], name="x")
        x = m.tensor([n, h, wd, ci])
        perm = m.tensor([4], np.array([0, 2, 3, 1]), np.int32)
        m.op(BO.TRANSPOSE, [x_in, perm], [x])
    else:
        x_in = x = m.tensor([n, h, wd, ci], name="x")
    how = []

    def pad_opts(padding, stride_h, stride_w, ctor):
        def fn(bld):
            getattr(sch, ctor + "Start")(bld)
            getattr(sch, ctor + "AddPadding")(bld, padding)
            getattr(sch, ctor + "AddStrideH")(bld, stride_h)
            getattr(sch, ctor + "AddStrideW")(bld, stride_w)
            return getattr(sch, ctor + "End")(bld)
        return fn

    if not s["conv2d"]:
        if g != 1:
            return None, "grouped TRANSPOSE_CONV not in TFLite"
        # TFLite weights (Cout, kh, kw, Cin); PyTorch (Cin, Cout, kh, kw).
        wt = m.tensor([co, kh, kw, ci], np.transpose(w, (1, 2, 3, 0)))
        bt = m.tensor([co], b)
        # SAME: output in*s, padding before = (k - s) // 2 (total k - s).
        same = all(o == i * st and k >= st and (k - st) // 2 == p
                   for o, i, st, k, p in ((ho, h, sh, kh, ph), (wo, wd, sw, kw, pw)))
        if same:
            pad, full = sch.Padding.SAME, (ho, wo)
            how.append("SAME")
        else:
            pad = sch.Padding.VALID
            full = ((h - 1) * sh + kh, (wd - 1) * sw + kw)
            how.append("VALID")
            if ph + ho > full[0] or pw + wo > full[1]:
                return None, "output_padding beyond the VALID output"
        oshape = m.tensor([4], np.array([n, full[0], full[1], co]), np.int32)
        yf = m.tensor([n, full[0], full[1], co])
        m.op(BO.TRANSPOSE_CONV, [oshape, wt, x, bt], [yf],
             sch.BuiltinOptions.TransposeConvOptions,
             pad_opts(pad, sh, sw, "TransposeConvOptions"))
        if full != (ho, wo):
            y = m.tensor([n, ho, wo, co])
            beg = m.tensor([4], np.array([0, ph, pw, 0]), np.int32)
            size = m.tensor([4], np.array([n, ho, wo, co]), np.int32)
            m.op(BO.SLICE, [yf, beg, size], [y])
            how.append("SLICE")
        else:
            y = yf
    else:
        # SAME: output ceil(in/s), padding total max((out-1)*s + k - in, 0), before half.
        def same_ok(i, o, k, st, p):
            tot = max((o - 1) * st + k - i, 0)
            return o == -(-i // st) and tot // 2 == p
        if same_ok(h, ho, kh, sh, ph) and same_ok(wd, wo, kw, sw, pw):
            pad = sch.Padding.SAME
            how.append("SAME")
            xs = x
        else:
            pad = sch.Padding.VALID
            how.append("VALID")
            if ph or pw:
                xs = m.tensor([n, h + 2 * ph, wd + 2 * pw, ci])
                pads = m.tensor([4, 2], np.array([[0, 0], [ph, ph], [pw, pw], [0, 0]]), np.int32)
                m.op(BO.PAD, [x, pads], [xs])
                how.insert(0, "PAD")
            else:
                xs = x
        y = m.tensor([n, ho, wo, co])
        bt = m.tensor([co], b)
        if g == 1:  # (Cout, kh, kw, Cin)
            wt = m.tensor([co, kh, kw, ci], np.transpose(w, (0, 2, 3, 1)))
            m.op(BO.CONV_2D, [xs, wt, bt], [y], sch.BuiltinOptions.Conv2DOptions,
                 pad_opts(pad, sh, sw, "Conv2DOptions"))
        elif g == ci:  # depthwise: (1, kh, kw, Cout), multiplier Cout / Cin
            wt = m.tensor([1, kh, kw, co], np.transpose(w[:, 0], (1, 2, 0)))
            mult = co // ci

            def dw_opts(bld):
                sch.DepthwiseConv2DOptionsStart(bld)
                sch.DepthwiseConv2DOptionsAddPadding(bld, pad)
                sch.DepthwiseConv2DOptionsAddStrideH(bld, sh)
                sch.DepthwiseConv2DOptionsAddStrideW(bld, sw)
                sch.DepthwiseConv2DOptionsAddDepthMultiplier(bld, mult)
                return sch.DepthwiseConv2DOptionsEnd(bld)
            m.op(BO.DEPTHWISE_CONV_2D, [xs, wt, bt], [y],
                 sch.BuiltinOptions.DepthwiseConv2DOptions, dw_opts)
            how.append("DEPTHWISE")
        else:
            return None, f"groups={g} (neither 1 nor depthwise) not in TFLite"
    if nchw:
        y_out = m.tensor([n, co, ho, wo], name="y")
        perm2 = m.tensor([4], np.array([0, 3, 1, 2]), np.int32)
        m.op(BO.TRANSPOSE, [y, perm2], [y_out])
    else:
        y_out = y
    return m.build([x_in], [y_out]), "+".join(how)


def run_litert(a, shapes, cg):
    from ai_edge_litert.interpreter import Interpreter
    import ai_edge_litert
    pc.emit(a.out, {"info": {"peer": "litert", "version": getattr(
        ai_edge_litert, "__version__", "?"), "threads": a.threads}})
    for s in shapes:
        x, w, b = pc.make_data(s)
        for nchw in (False, True):
            variant, layout = ("xnnpack_nchw", "nchw") if nchw else ("xnnpack", "nhwc")
            model, how = tflite_model(s, w, b, nchw)
            if model is None:
                skip(a, "litert", variant, layout, s, how)
                continue
            it = Interpreter(model_content=model, num_threads=a.threads)
            it.allocate_tensors()
            # Which nodes the XNNPACK delegate took: after delegation the
            # execution plan holds one DELEGATE node instead of the ops.
            ops = [o["op_name"] for o in it._get_ops_details()]
            xin = x if nchw else np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
            idx_in = it.get_input_details()[0]["index"]
            idx_out = it.get_output_details()[0]["index"]
            it.set_tensor(idx_in, xin)
            it.invoke()
            y = it.get_tensor(idx_out)
            if not nchw:
                y = np.transpose(y, (0, 3, 1, 2))
            err, k = pc.check(s, y, x, w, b, cg)
            st = pc.time_stats(it.invoke, a.quick, a.min_time, a.min_reps)
            record(a, "litert", variant, layout, s, st, err, k, padding=how,
                   impl="/".join(ops))


# ---- ONNX Runtime -----------------------------------------------------------------

def run_ort(a, shapes, cg):
    import onnxruntime as ort
    from ort_peer import model_for
    pc.emit(a.out, {"info": {"peer": "ort", "version": ort.__version__, "threads": a.threads}})
    for s in shapes:
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
        record(a, "ort", "ort", "nchw", s, st, err, k)


def main():
    ap = pc.arg_parser(__doc__)
    ap.add_argument("--peer", required=True, choices=["torch2", "openvino", "litert", "ort"])
    ap.add_argument("--no-compile", action="store_true", help="torch2: skip torch.compile")
    ap.add_argument("--backward", action="store_true",
                    help="torch2 only: time the backward on the data of bench/bwd_reference.py")
    ap.add_argument("--data", default=None, help="--backward: the reference data directory")
    a = ap.parse_args()
    cg = a.check_gflop if a.check_gflop is not None else (0.1 if a.quick else 0.4)
    shapes = pc.selected(pc.read_shapes(a.shapes, a.conv2d), a.only)
    if a.backward:
        if a.peer != "torch2" or not a.data:
            sys.exit("--backward needs --peer torch2 and --data DIR")
        run_torch2_backward(a, shapes)
        return
    {"torch2": run_torch2, "openvino": run_openvino, "litert": run_litert,
     "ort": run_ort}[a.peer](a, shapes, cg)


if __name__ == "__main__":
    main()
