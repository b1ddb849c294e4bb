#!/usr/bin/python3
"""Writes models/digits8x8.safetensors: the handwritten digits the DCGAN
trains on (scikit-learn's load_digits: 1797 images of 8x8 grey levels 0..16,
from the UCI "Optical Recognition of Handwritten Digits" data), as U8
tensors "images" (1797, 8, 8) and "labels" (1797), so that C programs
(`tconv train`) read the same data as scripts/train_dcgan_digits.py.

Run with Debian's Python and python3-sklearn:
    /usr/bin/python3 scripts/export_digits.py
"""
import os

import numpy as np
from sklearn.datasets import load_digits
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                   "digits8x8.safetensors")


def main():
    d = load_digits()
    images = d.images.astype(np.uint8)
    assert np.array_equal(images, d.images), "grey levels are integers 0..16"
    save_file({"images": np.ascontiguousarray(images),
               "labels": d.target.astype(np.uint8)}, OUT,
              metadata={"source": "sklearn.datasets.load_digits (UCI optdigits, 8x8, 0..16)"})
    print("wrote", os.path.abspath(OUT), os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
