"""Shared set-up for the Python tests: import path, the oracle's tally, and
the summary line printed at the end of the session.

Run from the repository root:  /usr/bin/python3 -m pytest tests/python
(the library comes from TCONV_LIBRARY, else build/libtconv.so, else the
system loader; see python/tconv/_lib.py).
"""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))


class OracleTally:
    """Counts compared cases and keeps the worst error and where it was."""

    def __init__(self):
        self.cases = 0        # configurations compared with PyTorch (outputs)
        self.runs = 0         # tconv runs compared (impls x threads x layouts)
        self.rejections = 0   # invalid configurations checked against PyTorch
        self.messages = 0     # of those, messages compared exactly
        self.worst = 0.0
        self.worst_case = ""

    def error(self, got, ref, case):
        """max|got - ref| / max(1, max|ref|), recorded; got float32, ref float64."""
        got = np.asarray(got, np.float64)
        if got.shape != ref.shape:
            raise AssertionError("%s: shape %s, PyTorch %s" % (case, got.shape, ref.shape))
        self.runs += 1
        if ref.size == 0:
            return 0.0
        if not np.all(np.isfinite(got)):
            raise AssertionError("%s: non-finite output (unwritten element?)" % case)
        err = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
        if err > self.worst:
            self.worst, self.worst_case = err, case
        return err


TALLY = OracleTally()

# Agreement bound of issue 2: max|tconv - torch64| / max(1, max|torch64|).
TOL = 1e-5


@pytest.fixture(scope="session")
def tally():
    return TALLY


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    t = TALLY
    if t.cases or t.rejections:
        terminalreporter.write_line(
            "tconv oracle: %d configurations compared with PyTorch (%d tconv runs over impls x "
            "threads x layouts), worst error %.3g%s; %d rejected configurations checked (%d "
            "messages compared exactly)"
            % (t.cases, t.runs, t.worst, (" at " + t.worst_case) if t.worst_case else "",
               t.rejections, t.messages))


# ---------------------------------------------------------------------------
# Known differences from PyTorch 1.13, all in one place.  Each key is a case
# name used by the tests; each value says why tconv differs on purpose.
# ---------------------------------------------------------------------------

# Cases where PyTorch and tconv both refuse, but with different words.
KNOWN_MESSAGE_DIFFERENCES = {
    "ct_output_size_tuple":
        "PyTorch prints output_size as the caller's object (a tuple prints (a, b)); "
        "tconv always prints a list [a, b]",
}

# Cases where PyTorch accepts and tconv refuses (or the reverse).
KNOWN_RAISE_DIFFERENCES = {
    "zero_batch_invalid_params":
        "PyTorch 1.13 skips its kernel's checks for an empty batch and returns an empty tensor "
        "for e.g. dilation=0, output_padding >= stride, an output size of 0, or an empty H/W "
        "with padding; tconv refuses a zero batch exactly when PyTorch refuses the same call "
        "with batch 1 (the tests check that rule)",
    "circular_unbatched":
        "PyTorch 1.13's nn.Conv2d with padding_mode='circular' refuses every unbatched (C, H, W) "
        "input (\"Invalid padding size, expected 2 but got 4\": its circular pad treats dim 0 as "
        "the batch); later PyTorch accepts it. tconv accepts it and computes the batched result",
    "negative_padding_with_padding_mode":
        "nn.Conv2d with padding_mode reflect/replicate/circular passes a negative padding to "
        "F.pad, which crops the input, and PyTorch then convolves the cropped input; tconv "
        "refuses negative padding in every mode (\"negative padding is not supported\", "
        "PyTorch's words for padding_mode zeros)",
    "conv2d_in_channels_0":
        "PyTorch 1.13's F.conv2d with in_channels 0 (weight (Cout, 0, kH, kW)) returns an "
        "output with 0 channels instead of Cout (a bug); tconv refuses the empty weight",
}


def outcome(fn):
    """(result, None) or (None, exception) of fn()."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001 - we compare whatever PyTorch raises
        return None, e


def _sorted_sets(msg):
    """msg with the items of every {'a', 'b'} set literal in sorted order."""
    import re
    return re.sub(r"\{('[^'{}]*'(?:, '[^'{}]*')*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", msg)


def check_same_refusal(case, torch_exc, tconv_exc, compare_message=True):
    """Both refused: tconv raised tconv.Error (or TypeError where PyTorch
    raised TypeError); optionally the messages are equal."""
    import tconv
    assert isinstance(tconv_exc, tconv.Error) or (
        isinstance(tconv_exc, TypeError) and isinstance(torch_exc, TypeError)), \
        "%s: tconv raised %r" % (case, tconv_exc)
    TALLY.rejections += 1
    if isinstance(torch_exc, TypeError):
        return  # Python's argument-parser wording; tconv only matches the type
    if compare_message:
        TALLY.messages += 1
        # The oracle runs PyTorch in float64 (its native CPU kernels, whose
        # words tconv follows); a float32 call prints FloatTensor, as tconv does.
        want = str(torch_exc).replace("torch.DoubleTensor", "torch.FloatTensor")
        # PyTorch prints Python sets ({'zeros', 'reflect', ...}) whose order
        # depends on string hashing at .pyc compile time: compare them sorted.
        assert _sorted_sets(str(tconv_exc)) == _sorted_sets(want), \
            "%s: message differs\n  tconv:   %s\n  PyTorch: %s" % (case, tconv_exc, torch_exc)


def run_everywhere(make_op, x, ref, case, output_size=None):
    """Runs the case through every available implementation, threads 1..4,
    NCHW and NHWC, each into a NaN-poisoned output; every run must match
    PyTorch and runs of one implementation must be bit-identical."""
    import tconv
    worst = 0.0
    for impl in tconv.available_impls():
        first = None
        op = make_op(impl=impl, layout="nchw", num_threads=1)
        try:
            shape = op.reshape(x.shape, output_size)
            for threads in (1, 2, 3, 4):
                op.set_num_threads(threads)
                out = np.full(shape, np.nan, np.float32)
                op.run(x, out)
                where = "%s [impl %s, %d threads]" % (case, impl, threads)
                worst = max(worst, TALLY.error(out, ref, where))
                if first is None:
                    first = out
                else:
                    assert np.array_equal(out, first), "%s: differs from 1 thread" % where
        finally:
            op.close()
        op = make_op(impl=impl, layout="nhwc", num_threads=2)
        try:
            xh = np.ascontiguousarray(np.moveaxis(x, -3, -1))
            op.reshape(x.shape, output_size)  # logical shape
            out = np.full(op._physical(op._out_shape), np.nan, np.float32)
            op.run(xh, out)
            where = "%s [impl %s, NHWC]" % (case, impl)
            worst = max(worst, TALLY.error(np.moveaxis(out, -1, -3), ref, where))
        finally:
            op.close()
    return worst
