"""tconv: PyTorch's ConvTranspose2d / Conv2d forward in C, from NumPy.

A thin ctypes binding over libtconv (include/tconv.h), mirroring
torch.nn.functional and torch.nn:

    import numpy as np, tconv
    y = tconv.conv_transpose2d(x, w, b, stride=2, padding=1)   # F.conv_transpose2d
    y = tconv.conv2d(x, w, padding='same')                     # F.conv2d
    m = tconv.ConvTranspose2d(16, 33, 3, stride=2)             # nn.ConvTranspose2d
    y = m(x, output_size=[16, 16])
    c = tconv.Conv2d(3, 8, 3, padding=1, padding_mode='reflect')

Arrays are NumPy (anything np.asarray accepts; converted to C-contiguous
float32).  Invalid arguments raise tconv.Error, a ValueError, carrying
libtconv's message (PyTorch's words).  The library is found through
TCONV_LIBRARY, then <repository>/build/libtconv.so, then the system loader.

Implementation and threads: tconv.set_options(impl=..., num_threads=...) or
`with tconv.options(impl='reference'):`; tconv.available_impls() lists what
this CPU and build can run.  tconv.Operator exposes the operator objects
(create -> reshape -> run), including the channels-last (NHWC) layout.
"""
import contextlib

from . import _lib
from ._lib import Error
from .functional import Operator, conv2d, conv_transpose2d, output_padding_for_size
from .functional import _defaults, _resolve
from .modules import Conv2d, ConvTranspose2d, manual_seed

__all__ = ["Error", "Operator", "conv_transpose2d", "conv2d", "ConvTranspose2d", "Conv2d",
           "manual_seed", "set_options", "get_options", "options", "available_impls",
           "best_impl", "output_padding_for_size", "library_path", "version"]

library_path = _lib.path
version = _lib.lib.tconv_version().decode()
__version__ = version


def available_impls():
    """Names of the implementations this CPU and build can run, slowest
    ('reference') first; 'auto' is not listed."""
    return [name for name, code in sorted(_lib.IMPLS.items(), key=lambda kv: kv[1])
            if code and _lib.lib.tconv_impl_available(code)]


def best_impl():
    """The implementation 'auto' resolves to."""
    return _lib.lib.tconv_impl_name(_lib.lib.tconv_best_impl()).decode()


def get_options():
    """The process-wide defaults used by the functional API and the modules."""
    return dict(_defaults)


def set_options(impl=None, num_threads=None):
    """Sets the process-wide defaults: impl ('auto', 'reference', 'portable',
    'avx2', 'avx512') and num_threads (0 = library default).  None keeps the
    current value.  Returns the previous defaults."""
    old = dict(_defaults)
    impl, num_threads = _resolve(impl, num_threads)
    _defaults["impl"], _defaults["num_threads"] = impl, num_threads
    return old


@contextlib.contextmanager
def options(impl=None, num_threads=None):
    """Context manager: set_options for the duration of a with-block."""
    old = set_options(impl, num_threads)
    try:
        yield
    finally:
        set_options(**old)
