"""Writes the hostile weights files test_cli_reliability.sh feeds to
`tconv generate` into the directory given as the only argument.

Every file is a well-formed safetensors container unless its name says
otherwise, so each one reaches the check it is meant for."""
import json
import os
import struct
import sys


def write(path, header, data=b"", raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def main():
    out, model = sys.argv[1], sys.argv[2]
    header, data = read(model)
    meta = header.pop("__metadata__", None)

    # z of zero samples, of too many, and of a 2^60 batch that holds no data
    def z_file(name, shape):
        n = 1
        for d in shape:
            n *= d
        write(os.path.join(out, name),
              {"z": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4 * n]}},
              b"\0" * (4 * n))

    z_file("z_empty.safetensors", [0, 100, 1, 1])
    z_file("z_4097.safetensors", [4097, 100, 1, 1])
    z_file("z_3.safetensors", [3, 100, 1, 1])
    z_file("z_2pow60.safetensors", [1 << 60, 0, 1, 1])
    z_file("z_2pow60_overflow.safetensors", [1 << 60, 100, 0, 1])
    z_file("z_wide.safetensors", [2, 99, 1, 1])

    # the model with NaN in the last layer's weight
    nan = bytearray(data)
    b, e = header["net.6.weight"]["data_offsets"]
    nan[b:e] = struct.pack("<f", float("nan")) * ((e - b) // 4)
    write(os.path.join(out, "nan.safetensors"), dict(header, __metadata__=meta), bytes(nan))

    # ~0.3 MB declaring a (5000, 5000, 0, 0) first layer (no data needed);
    # a 4x4 kernel of those widths would be 1.6 GB
    n3 = 5000 * 1 * 16 * 4
    big = {"net.0.weight": {"dtype": "F32", "shape": [5000, 5000, 0, 0], "data_offsets": [0, 0]},
           "net.3.weight": {"dtype": "F32", "shape": [5000, 1, 4, 4], "data_offsets": [0, n3]},
           "net.6.weight": {"dtype": "F32", "shape": [1, 1, 4, 4], "data_offsets": [n3, n3 + 64]}}
    write(os.path.join(out, "big_declared.safetensors"), big, b"\0" * (n3 + 64))

    # 160k metadata keys (~2 MB): must open (and fail for lack of tensors) fast
    keys = ",".join('"k%06d":"v"' % i for i in range(160000))
    write(os.path.join(out, "many_keys.safetensors"), None,
          raw_header=('{"__metadata__":{%s}}' % keys).encode())

    # a tensor name that is a terminal escape, in a file refused for its
    # offsets (so the name is in the message)
    esc = {"\x1b]0;pwned\x07": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    write(os.path.join(out, "escape_name.safetensors"), esc, b"\0" * 8)

    # a name that is not UTF-8
    write(os.path.join(out, "not_utf8.safetensors"), None,
          raw_header=b'{"w\xff":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}')


if __name__ == "__main__":
    main()
