"""Safetensors files: dicts of NumPy arrays in and out.

Reading goes through libtconv's strict reader (tconv_safetensors_*: the
whole file checked at open, messages naming the tensor and the numbers).
Writing follows the format as safetensors.torch.save_file writes it: an
8-byte little-endian header length, a JSON header padded with spaces to a
multiple of 8, then each tensor's little-endian bytes, tiling the data
(largest element size first, then by name, so every tensor is aligned).
"""
import ctypes
import json
import os
import struct

import numpy as np

from . import _lib
from ._convert import to_numpy
from ._lib import Error

# NumPy dtype of each format dtype NumPy can hold.
_TO_NUMPY = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
             "F16": np.float16, "I32": np.int32, "U32": np.uint32, "F32": np.float32,
             "F64": np.float64, "I64": np.int64, "U64": np.uint64}
_FROM_NUMPY = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k
               for k, v in _TO_NUMPY.items()}


def load_safetensors(path):
    """Reads a safetensors file (as safetensors.torch.save_file and
    save_safetensors write them) into a dict name -> NumPy array, in the
    file's order; each array is a writable copy in native byte order.
    Feed it to Module.load_state_dict.  Raises tconv.Error for a missing,
    unreadable or malformed file (status_name "i/o error" / "malformed
    data") and for dtypes NumPy has no type for (BF16, F8_*)."""
    path = os.fspath(path)
    handle = ctypes.c_void_p()
    _lib.check(_lib.lib.tconv_safetensors_open(os.fsencode(path), ctypes.byref(handle)))
    try:
        infos = []
        for i in range(_lib.lib.tconv_safetensors_count(handle)):
            info = _lib.TensorInfo()
            _lib.check(_lib.lib.tconv_safetensors_info(handle, i, ctypes.byref(info)))
            shape = tuple(info.shape[d] for d in range(info.ndim))
            infos.append((info.name, _lib.DTYPES[info.dtype], shape, info.numel))
        out = {}
        others = []
        for raw_name, dtype, shape, numel in infos:
            name = raw_name.decode("utf-8")
            if dtype == "F32":
                a = np.empty(shape, np.float32)
                _lib.check(_lib.lib.tconv_safetensors_read_f32(
                    handle, raw_name, len(shape), _lib.i64_array(shape) if shape else None,
                    a.ctypes.data, numel))
                out[name] = a
            elif dtype in _TO_NUMPY:
                out[name] = None  # keeps the file's order
                others.append((name, dtype, shape))
            else:
                raise Error("%s: tensor '%s' has dtype %s, which NumPy has no type for"
                            % (path, name, dtype), 7)
    finally:
        _lib.lib.tconv_safetensors_close(handle)
    if others:
        # The file is valid (checked above); the other dtypes' bytes are
        # taken from it by the offsets in its header.
        with open(path, "rb") as f:
            data = f.read()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n].decode("utf-8"))
        for name, dtype, shape in others:
            begin, end = header[name]["data_offsets"]
            dt = np.dtype(_TO_NUMPY[dtype]).newbyteorder("<")
            a = np.frombuffer(data, dt, count=(end - begin) // dt.itemsize, offset=8 + n + begin)
            out[name] = a.reshape(shape).astype(dt.newbyteorder("="), copy=True)
    return out


def save_safetensors(tensors, path, metadata=None):
    """Writes tensors (a dict name -> NumPy array or CPU torch tensor, such
    as Module.state_dict() or a PyTorch state_dict) to a safetensors file
    that safetensors.torch.load_file, safetensors.numpy.load_file and
    load_safetensors read.  metadata: an optional dict of str -> str stored
    as "__metadata__"."""
    if not isinstance(tensors, dict):
        raise TypeError("tensors must be a dict of name -> array, not %s"
                        % type(tensors).__name__)
    items = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError("tensor names must be str, not %s" % type(name).__name__)
        if name == "__metadata__":
            raise Error("'__metadata__' is reserved for the metadata, not a tensor name")
        a = to_numpy(value, name)
        dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        if dt not in _FROM_NUMPY:
            raise Error("tensor '%s' has dtype %s, which safetensors cannot store" % (name, a.dtype))
        a = np.array(a, dtype=dt, order="C", copy=True) if a.dtype != dt or \
            not a.flags.c_contiguous else a
        items.append((name, _FROM_NUMPY[dt], a))
    # Largest element first keeps every tensor aligned to its element size.
    items.sort(key=lambda t: (-t[2].dtype.itemsize, t[0]))
    header = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("metadata must be a dict of str -> str")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, code, a in items:
        header[name] = {"dtype": code, "shape": [int(d) for d in a.shape],
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(os.fspath(path), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, a in items:
            f.write(a.tobytes())
