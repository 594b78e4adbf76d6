"""Layers as forward/backward pairs, and a small MLP built from them.

Each ``*_forward(...)`` returns ``(out, cache)``; each ``*_backward(dout, cache)`` returns the
gradients with respect to the inputs, in the order of the inputs. In a backward pass every
gradient is named ``d<forward value>`` and computed one line per forward line, in reverse.
tests/test_nn.py checks each pair against centred finite differences.
"""
import numpy as np
import scipy.sparse

from .checks import check_choice, check_float, check_int, check_rng


# -- linear ------------------------------------------------------------------
def linear_forward(x, W, b):
    """out = x W + b.  x: (B, d_in), W: (d_in, d_out), b: (d_out,) -> out (B, d_out)."""
    out = x @ W + b
    return out, (x, W)


def linear_backward(dout, cache):
    """dout (B, d_out) -> (dx (B, d_in), dW (d_in, d_out), db (d_out,))."""
    x, W = cache
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dW, db


# -- embedding ----------------------------------------------------------------
def embedding_forward(ids, W):
    """out[b] = sum_i W[i, ids[b, i]]: the first layer of a network whose input is one-hot.

    ids: int (B, L), the token at each position; W: (L, n, d), the row W[i, v] of token v at
    position i. The one-hot input onehot(x) (B, L*n) has a 1 at entry i*n + x_i of each
    position and 0 elsewhere, and a one-hot row times a matrix is a row of the matrix: so
    onehot(x) @ W.reshape(L*n, d) is the sum of L rows, one per position, looked up here:
    B*L*d additions instead of B*L*n*d multiply-adds. The sum starts at 0 and adds positions
    0, 1, ..., L-1 in turn. Returns (out (B, d), cache).
    """
    L, n, d = W.shape
    B = ids.shape[0]
    out = np.zeros((B, d), dtype=W.dtype)
    for i in range(L):
        out += W[i].take(ids[:, i], axis=0)       # (B, d): row W[i, ids[b, i]] of each b
    # for the backward pass: row i*n + x_i of W.reshape(L*n, d) for each lookup, as int32 (the
    # type SciPy gives a matrix this size: its constructor then takes them without a copy)
    index = np.int32 if max(B * L, L * n) < 2**31 - 1 else np.int64
    flat = (ids + n * np.arange(L)).reshape(-1).astype(index)      # (B*L,), a new array
    return out, (flat, B, W.shape, W.dtype)


def embedding_backward(dout, cache):
    """dout (B, d) -> dW (L, n, d): a scatter-add, each used row W[i, ids[b, i]] receives dout[b]
    (summed over the b that used it, in the order of b). This is dW = onehot(x)^T dout, with
    onehot(x)^T (L*n, B) built as a SciPy sparse matrix of its B*L ones, whose product skips
    the zeros: the same as np.add.at(dW.reshape(L*n, d), flat ids, dout per position), only
    faster."""
    flat, B, (L, n, d), dtype = cache
    onehot_t = scipy.sparse.csc_matrix(           # column b holds ones at rows flat[b L : b L + L]
        (np.ones(B * L, dtype=dtype), flat, np.arange(0, B * L + 1, L, dtype=flat.dtype)),
        shape=(L * n, B))
    dW = onehot_t @ dout                          # (L*n, d)
    return np.asarray(dW).reshape(L, n, d)


# -- activations --------------------------------------------------------------
def relu_forward(x):
    """out = max(x, 0)."""
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    """dx = dout where x > 0 (the kink at 0 takes derivative 0)."""
    x = cache
    return dout * (x > 0)


def silu_forward(x):
    """out = x * sigmoid(x) (SiLU / swish): smooth, so finite differences hold everywhere.

    sigmoid(x) = 1 / (1 + e^{-x}), computed in place. For x below about -709 (float64) or -88
    (float32) e^{-x} overflows to inf and sigmoid(x) comes out as exactly 0, its true limit.
    """
    sig = np.negative(x, dtype=np.result_type(x, np.float32))   # float32 stays float32
    with np.errstate(over="ignore"):
        np.exp(sig, out=sig)
    sig += 1.0
    np.reciprocal(sig, out=sig)
    return x * sig, (x, sig)


def silu_backward(dout, cache):
    """d/dx [x sig(x)] = sig + x sig (1 - sig) = sig (1 + x (1 - sig)), computed in place."""
    x, sig = cache
    dx = np.subtract(1.0, sig, dtype=np.result_type(sig, dout))
    dx *= x
    dx += 1.0
    dx *= sig
    dx *= dout
    return dx


def log_softmax_forward(x):
    """out = x - logsumexp(x) over the last axis: log-probabilities (..., C)."""
    shifted = x - max_last(x)                    # subtract the max so exp cannot overflow
    out = shifted - np.log(sum_last(np.exp(shifted)))
    return out, out


def temper(log_probs, temperature):
    """log_probs (..., C) at temperature T: log of p^(1/T) / sum p^(1/T) over the last axis,
    float64 (lesson 10, section 8). T < 1 sharpens the distribution (as T -> 0 it puts all
    its mass on the most likely), T > 1 flattens it; at T = 1 log_probs come back unchanged
    (the same array, in its own dtype)."""
    if temperature == 1.0:
        return log_probs
    return log_softmax_forward(np.asarray(log_probs, dtype=np.float64) / temperature)[0]


def log_softmax_backward(dout, cache):
    """dx = dout - softmax(x) * sum(dout) over the last axis."""
    out = cache
    return _log_softmax_backward(dout, np.exp(out))


def _log_softmax_backward(dout, softmax):
    """log_softmax_backward given softmax(x) = exp(out), for a caller that has it already."""
    return dout - softmax * sum_last(dout)


# -- sums and maxima over a short last axis ----------------------------------------------------
# The toy problems have 4 or 5 tokens, and a NumPy reduction over a last axis that short pays a
# fixed cost per row (on (256, 4, 4): 26 us for a sum, 55 us for a max). For fewer than 8
# entries NumPy adds a row's entries one at a time, starting from 0, so adding whole columns in
# that order gives the very same numbers (tests/test_nn.py checks it) in one call per column
# (16 us for the sum; the max compares whole columns, 15 us). Longer rows go to NumPy, whose
# pairwise sum adds in another order.
SHORT = 8


def sum_last(a):
    """a.sum(axis=-1, keepdims=True), bit for bit, faster when the last axis is short."""
    n = a.shape[-1]
    if not 0 < n < SHORT or a.dtype.char not in "fd":     # float32 and float64 only (NumPy adds
        return a.sum(axis=-1, keepdims=True)              # float16 in float32)
    out = a[..., :1] + 0.0                      # 0 + a_0, as NumPy starts (so -0.0 becomes 0.0)
    for i in range(1, n):
        out += a[..., i:i + 1]
    return out


def max_last(a):
    """a.max(axis=-1, keepdims=True), faster when the last axis is short (a maximum does not
    depend on the order; NaN wins, as in NumPy)."""
    n = a.shape[-1]
    if not 0 < n < SHORT or a.dtype.char not in "fd":
        return a.max(axis=-1, keepdims=True)
    out = a[..., :1].copy()
    for i in range(1, n):
        np.maximum(out, a[..., i:i + 1], out=out)
    return out


ACTIVATIONS = {"relu": (relu_forward, relu_backward), "silu": (silu_forward, silu_backward)}


# -- MLP ----------------------------------------------------------------------
class MLP:
    """Fully connected network: sizes[0] -> sizes[1] -> ... -> sizes[-1], an activation between.

    params: dict {"W0", "b0", "W1", "b1", ...} of arrays of `dtype` (float64 by default, or
    float32), created with He-style initialization N(0, 2 / fan_in) from `rng` (None: fresh
    entropy, an int seed, or a np.random.Generator; the draws are the same for both dtypes);
    the last layer is scaled by `out_scale`.
    """

    def __init__(self, sizes, activation="relu", rng=None, out_scale=1.0, dtype=np.float64):
        if not isinstance(sizes, (list, tuple, range, np.ndarray)) or np.ndim(sizes) != 1:
            raise TypeError(f"sizes must be a list of layer sizes, e.g. [4, 16, 2], got "
                            f"{type(sizes).__name__}")
        sizes = [check_int("sizes entry", s, low=1) for s in sizes]
        out_scale = check_float("out_scale", out_scale, low=0.0)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.dtype = check_dtype("dtype", dtype)
        rng = check_rng("rng", rng)
        self.sizes = sizes
        self.params = {}
        for k, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = np.sqrt(2.0 / d_in) * (out_scale if k == len(sizes) - 2 else 1.0)
            self.params[f"W{k}"] = rng.normal(0.0, scale, size=(d_in, d_out)).astype(self.dtype)
            self.params[f"b{k}"] = np.zeros(d_out, dtype=self.dtype)

    @property
    def num_layers(self):
        return len(self.sizes) - 1

    def forward(self, x, start=0):
        """x (B, sizes[start]) -> (out (B, sizes[-1]), cache): layers start, start + 1, ...

        start > 0 runs the network from the activation of layer start - 1 on (a model that
        computes its first layer another way, as ScoreMLP does with an embedding).
        """
        act_forward, _ = ACTIVATIONS[self.activation]
        caches = []
        h = x                                       # the input of layer k
        for k in range(start, self.num_layers):
            z, lin_cache = linear_forward(h, self.params[f"W{k}"], self.params[f"b{k}"])
            act_cache = None
            h = z                                   # the last layer has no activation
            if k < self.num_layers - 1:
                h, act_cache = act_forward(z)
            caches.append((lin_cache, act_cache))
        return h, (start, caches)

    def backward(self, dout, cache):
        """dout (B, sizes[-1]) -> (dx (B, sizes[start]), grads dict of the layers >= start)."""
        _, act_backward = ACTIVATIONS[self.activation]
        start, caches = cache
        grads = {}
        dh = dout                                   # gradient of the output of layer k
        for k in reversed(range(start, self.num_layers)):
            lin_cache, act_cache = caches[k - start]
            dz = dh if act_cache is None else act_backward(dh, act_cache)
            dh, grads[f"W{k}"], grads[f"b{k}"] = linear_backward(dz, lin_cache)
        return dh, grads


def check_dtype(name, dtype):
    """np.float64 or np.float32 (or "float64", "float32"), returned as a np.dtype."""
    try:
        value = np.dtype(dtype) if isinstance(dtype, (str, type, np.dtype)) else None
    except TypeError:
        value = None
    # (not `value in (...)`: None == np.dtype(np.float64) is True, NumPy reads None as float64)
    if value is None or value.name not in ("float64", "float32"):
        raise ValueError(f"{name} must be np.float64 or np.float32, got {dtype!r}")
    return value
