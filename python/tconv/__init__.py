"""tconv: PyTorch's ConvTranspose2d / Conv2d forward (and the layers around
them in GAN generators and U-Net decoders) in C, from NumPy.

A ctypes binding over libtconv (include/tconv.h), shaped like torch:

    import numpy as np, tconv
    from tconv import nn                                        # like torch.nn
    m = nn.ConvTranspose2d(16, 33, 3, stride=2)                 # nn.ConvTranspose2d
    x = np.random.randn(1, 16, 8, 8).astype(np.float32)
    y = m(x, output_size=[17, 17])
    y = tconv.conv_transpose2d(x, m.weight, m.bias, stride=2)   # F.conv_transpose2d
    y = tconv.conv2d(y, np.ones((4, 33, 3, 3), np.float32), padding='same')
    net = nn.Sequential(nn.Linear(100, 512), nn.BatchNorm2d(8), ...)
    net.load_state_dict(tconv.load_safetensors("weights.safetensors"))

tconv.nn has Module, Sequential, Parameter, Linear, BatchNorm2d, ReLU,
LeakyReLU, Tanh, Sigmoid, MaxPool2d, ConvTranspose2d and Conv2d, with
torch.nn's names, signatures, defaults, state_dict keys and messages
(tconv.ConvTranspose2d and tconv.Conv2d are the same classes).  Layers take
NumPy arrays or CPU torch tensors of dtype float32 (other dtypes are refused,
as PyTorch refuses them) and return NumPy arrays.  The functional API
(conv_transpose2d, conv2d) converts any real array-like to float32.  tconv.cat
and tconv.view are torch.cat and Tensor.view.

Training without autograd: tconv.functional has each layer's gradient beside
it (conv_transpose2d_backward, conv2d_backward, relu_backward, tanh_backward,
leaky_relu_backward, sigmoid_backward, batch_norm_backward) and the losses
(mse_loss, l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits)
with theirs; tconv.optim has SGD, Adam and AdamW over writable float32
arrays.  A step is the forward calls, the backward calls in reverse order,
then optimizer.step(grads).

Invalid arguments raise tconv.Error, a ValueError, carrying libtconv's
message (PyTorch's words).  The library is found through TCONV_LIBRARY, then
beside this package (pip install), then <repository>/build/libtconv.so, then
the system loader; it must be this package's version (tconv.version).

Threads: tconv.set_num_threads(n) / tconv.get_num_threads() as torch's.
Implementation: tconv.set_options(impl=...) or `with tconv.options(impl=
'reference'):`; tconv.available_impls() lists what this CPU and build can
run.  tconv.Operator exposes the operator objects (create -> reshape -> run),
including the channels-last (NHWC) layout.
"""
import contextlib
import numbers

from . import _lib
from ._lib import Error
from ._version import __version__
from . import functional
from .functional import (Operator, cat, clear_cache, conv2d, conv2d_backward, conv_transpose2d,
                         conv_transpose2d_backward, output_padding_for_size, view)
from ._args import _defaults, _resolve
from ._safetensors import load_safetensors, save_safetensors
from . import nn
from . import optim
from .nn import Conv2d, ConvTranspose2d, manual_seed

__all__ = ["Error", "Operator", "conv_transpose2d", "conv2d", "conv_transpose2d_backward",
           "conv2d_backward", "ConvTranspose2d", "Conv2d",
           "nn", "functional", "optim", "cat", "view", "load_safetensors", "save_safetensors",
           "manual_seed", "set_num_threads", "get_num_threads", "set_options", "get_options",
           "options", "available_impls", "best_impl", "output_padding_for_size", "clear_cache",
           "library_path", "version", "__version__"]

library_path = _lib.path
version = _lib.lib.tconv_version().decode()


def available_impls():
    """Names of the implementations this CPU and build can run, slowest
    ('reference') first; 'auto' is not listed."""
    return [name for name, code in sorted(_lib.IMPLS.items(), key=lambda kv: kv[1])
            if code and _lib.lib.tconv_impl_available(code)]


def best_impl():
    """The implementation 'auto' resolves to."""
    return _lib.lib.tconv_impl_name(_lib.lib.tconv_best_impl()).decode()


def set_num_threads(n):
    """torch.set_num_threads: the number of threads every later operator
    run uses (modules, the functional API, and Operators made without an
    explicit num_threads, including ones made before this call).  Results
    are bit-identical for every thread count."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError("set_num_threads expects an int, but got %s" % type(n).__name__)
    n = int(n)
    if n <= 0:
        raise Error("set_num_threads expects a positive integer")
    if n > 1 << 20:
        raise Error("set_num_threads: %d threads is more than tconv supports" % n)
    if _lib.HAS_PROCESS_THREADS:
        _lib.check(_lib.lib.tconv_set_num_threads(n))
    _defaults["num_threads"] = n
    functional.bump_threads()


def get_num_threads():
    """torch.get_num_threads: the threads operators use by default (the
    last set_num_threads, else TCONV_NUM_THREADS, else the available cores)."""
    return functional.effective_num_threads()


def get_options():
    """The process-wide defaults used by the functional API and the modules
    (num_threads 0 = the library's default, see get_num_threads)."""
    return dict(_defaults)


def set_options(impl=None, num_threads=None):
    """Sets the process-wide defaults: impl ('auto', 'reference', 'portable',
    'avx2', 'avx512') and num_threads (0 = library default).  None keeps the
    current value.  Returns the previous defaults.  Modules switch to a new
    impl at their next call."""
    old = dict(_defaults)
    impl = _defaults["impl"] if impl is None else impl
    num_threads = _defaults["num_threads"] if num_threads is None else num_threads
    impl, num_threads, _ = _resolve(impl, num_threads)
    _defaults["impl"], _defaults["num_threads"] = impl, num_threads
    functional.bump_threads()
    return old


@contextlib.contextmanager
def options(impl=None, num_threads=None):
    """Context manager: set_options for the duration of a with-block."""
    old = set_options(impl, num_threads)
    try:
        yield
    finally:
        set_options(**old)
