"""Check a hand-derived gradient against centred finite differences.

For a scalar function f, the derivative along entry j is estimated as

    (f(x + h e_j) - f(x - h e_j)) / (2 h)          (error O(h^2))

For an array-valued f, a random upstream gradient g is drawn and the scalar
sum(g * f(x)) is differentiated instead: that is exactly what a backward pass
computes when it is handed dout = g. The result is the relative error

    max_j |a_j - b_j| / max(1e-8, max_j (|a_j| + |b_j|))

between the analytic gradient a and the numerical one b, over every input. The scale is the
largest entry of the input's gradient: an entry many orders of magnitude
smaller than the rest is checked only to that scale. In float64 with h = 1e-5 a correct
gradient of a smooth function gives about 1e-9.
"""
import numpy as np

from .checks import check_float, check_int, check_rng


def _as_named(inputs):
    """inputs (array, list/tuple of arrays, or dict) -> (list of (name, array), call style)."""
    if isinstance(inputs, dict):
        return list(inputs.items()), "dict"
    if isinstance(inputs, (list, tuple)):
        return [(str(k), a) for k, a in enumerate(inputs)], "list"
    return [("0", inputs)], "array"


def gradcheck(f, inputs, analytic, h=1e-5, rng=None, max_entries=None):
    """Relative error between an analytic gradient and centred finite differences.

    f: called as f(x) for one array, f(*arrays) for a list, f(**arrays) for a dict;
       returns a float or an array. The arrays are nudged in place and restored, so f
       may also ignore its arguments and read the arrays from elsewhere (a model's params).
    inputs: a float64 array, a list of them, or a dict name -> array.
    analytic: the gradients in the structure of inputs (for a scalar f), or a callable
       analytic(dout) returning them, for an array f (dout is the random upstream gradient).
    h: the finite-difference step. rng: the randomness of dout and of the entries (None: fresh
       entropy, an int seed, or a np.random.Generator).
    max_entries: check at most this many random entries per input (all when None).
    Returns the relative error (float). A NaN or inf in f's value (at the inputs or nudged) or
    in the analytic gradient is a ValueError: it has no error to report.
    """
    if not callable(f):
        raise TypeError(f"f must be callable (returning a float or an array), "
                        f"got {type(f).__name__}")
    named, style = _as_named(inputs)
    for name, a in named:
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            raise TypeError(f"inputs[{name}] must be a float64 array (finite differences need "
                            f"double precision), got {type(a).__name__}")
    h = check_float("h", h, low=0.0, low_open=True)
    rng = check_rng("rng", rng)
    if max_entries is not None:
        max_entries = check_int("max_entries", max_entries, low=1)

    def call():
        if style == "dict":
            return np.asarray(f(**dict(named)), dtype=np.float64)
        return np.asarray(f(*[a for _, a in named]), dtype=np.float64)

    out = call()
    if not np.isfinite(out).all():
        raise ValueError("f returned a value that is not finite (NaN or inf) at the inputs: "
                         "there is no derivative to check")
    dout = rng.normal(size=out.shape) if out.ndim else np.float64(1.0)

    def scalar():
        return float(np.sum(dout * call()))

    grads = analytic(dout) if callable(analytic) else analytic
    names = [name for name, _ in named]
    if isinstance(grads, dict):
        if set(grads) != set(names):
            raise ValueError(f"analytic must have the keys {sorted(names)}, got {sorted(grads)}")
    else:
        grads = [g for _, g in _as_named(grads)[0]]
        if len(grads) != len(names):
            raise ValueError(f"analytic must give {len(names)} gradient(s), got {len(grads)}")
        grads = dict(zip(names, grads))

    worst = 0.0
    for name, a in named:
        g = np.asarray(grads[name], dtype=np.float64)
        if g.shape != a.shape:
            raise ValueError(f"analytic gradient for input {name} must have shape {a.shape}, "
                             f"got {g.shape}")
        if not np.isfinite(g).all():
            raise ValueError(f"analytic gradient for input {name} holds NaN or inf")
        if not a.flags.c_contiguous:
            raise ValueError(f"inputs[{name}] must be C-contiguous so it can be nudged in place")
        flat = a.reshape(-1)                     # a view: nudging it nudges the input
        entries = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            entries = rng.choice(flat.size, size=max_entries, replace=False)
        numeric = np.empty(entries.size)
        for k, j in enumerate(entries):
            keep = flat[j]
            flat[j] = keep + h
            plus = scalar()
            flat[j] = keep - h
            minus = scalar()
            flat[j] = keep
            numeric[k] = (plus - minus) / (2.0 * h)
            if not np.isfinite(numeric[k]):
                raise ValueError(f"f is not finite at inputs[{name}] with entry {j} moved by "
                                 f"+-h = {h:g}: no finite difference there")
        exact = g.reshape(-1)[entries]
        scale = max(1e-8, float(np.max(np.abs(exact) + np.abs(numeric), initial=0.0)))
        worst = max(worst, float(np.max(np.abs(exact - numeric), initial=0.0)) / scale)
    return worst
