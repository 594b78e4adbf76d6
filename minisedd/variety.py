"""Sample quality at equal variety (lesson 10, section 8; lesson 11 uses it too).

A sampler q's samples x_1 .. x_N each get two numbers, in nats per sequence:

    entropy_b = -log q(x_b), the sampler's own (or a bound on it): its mean estimates H(q)
    nll_b     = -log p(x_b) under a judge p that wrote neither sampler's samples: its mean
                estimates H(q) + KL(q || p)

A less varied sampler gets a lower NLL for free, so two samplers are compared at the same
variety. A temperature moves a sampler along its own *curve* of points (mean entropy, mean
NLL); the curve is read at the other sampler's entropy, on a straight line between the two
points around it, and since NLL = entropy + KL there, the lower of the two NLLs belongs to
the sampler closer to the judge. The error of that difference comes from a bootstrap: every
sample set is drawn again, with replacement, keeping each sample's entropy and NLL together
(a point's entropy and NLL rise and fall together, sample by sample, and the reading follows
them along the curve), the reading is redone, and the spread of the readings is the error.
"""
from collections import namedtuple

import numpy as np

from .checks import check_float, check_int, check_real_array, check_rng

EqualVariety = namedtuple("EqualVariety", "difference stderr inside curve_nll")
EqualVariety.__doc__ = """The curve read at the point's entropy, minus the point's NLL.

difference: curve_nll - the point's mean NLL (below 0: the curve's sampler is the better one
    at the point's variety); stderr: its bootstrap standard error (NaN with fewer than two
    readings); inside: how many resamples gave a reading (a resampled point can fall outside
    the resampled curve); curve_nll: the curve's NLL at the point's mean entropy."""


def curve_at(curve, entropy):
    """The NLL of a curve at `entropy`: linear between the two neighbouring points in entropy.

    curve: (entropy, nll) pairs of finite numbers, one per point, in any order, no two at the
    same entropy; entropy: a finite number. Returns a float, or None when `entropy` lies
    outside the curve's range of entropies (a one-point curve is read at its own entropy only).
    """
    entropy = check_float("entropy", entropy)
    pairs = list(curve)
    for point in pairs:
        if not (isinstance(point, (tuple, list, np.ndarray)) and len(point) == 2):
            raise ValueError(f"curve must hold (entropy, nll) pairs, got {point!r}")
    points = sorted((check_float("a curve point's entropy", h),
                     check_float("a curve point's nll", y)) for h, y in pairs)
    if not points:
        raise ValueError("curve must hold at least one point (entropy, nll)")
    for (h0, _), (h1, _) in zip(points, points[1:]):
        if h0 == h1:
            raise ValueError(f"curve has two points at the same entropy {h0}: which NLL it has "
                             f"there is not defined")
    if len(points) == 1:
        return points[0][1] if entropy == points[0][0] else None
    for (h0, y0), (h1, y1) in zip(points, points[1:]):
        if h0 <= entropy <= h1:
            return y0 + (y1 - y0) * (entropy - h0) / (h1 - h0)
    return None


def equal_variety(curve, point, rng=None, resamples=200):
    """Compare a sampler's curve with another sampler's point at the point's variety.

    curve: a list of sample sets, one per temperature of the first sampler; point: one sample
    set of the second. A sample set is a pair (entropy, nll) of 1-D arrays of the same length
    (at least 2), one entry per sample, as in this module's docstring. rng: the bootstrap's
    randomness (None, an int seed or a np.random.Generator); resamples: how many bootstrap
    readings (>= 2).
    Each reading draws the point's samples again, then each curve set's, in the order given.
    Returns an EqualVariety, or None when the point's mean entropy is outside the curve.
    """
    if not isinstance(curve, (list, tuple)) or len(curve) < 2:
        raise TypeError(f"curve must be a list of at least two sample sets (entropy, nll), "
                        f"got {type(curve).__name__}"
                        + (f" of length {len(curve)}" if isinstance(curve, (list, tuple)) else ""))
    sets = [_sample_set(f"curve[{k}]", s) for k, s in enumerate(curve)]
    h_point, y_point = _sample_set("point", point)
    rng = check_rng("rng", rng)
    resamples = check_int("resamples", resamples, low=2)
    curve_nll = curve_at([(h.mean(), y.mean()) for h, y in sets], h_point.mean())
    if curve_nll is None:
        return None
    readings = []
    for _ in range(resamples):
        h_again, y_again = _resampled(h_point, y_point, rng)
        at = curve_at([_resampled(h, y, rng) for h, y in sets], h_again)
        if at is not None:
            readings.append(at - y_again)
    stderr = float(np.std(readings)) if len(readings) > 1 else float("nan")
    return EqualVariety(float(curve_nll - y_point.mean()), stderr, len(readings), curve_nll)


def _resampled(h, y, rng):
    """The means of a sample set drawn again with replacement, entropy and NLL together."""
    pick = rng.integers(0, len(h), len(h))
    return h[pick].mean(), y[pick].mean()


def _sample_set(name, pair):
    """Check a sample set (entropy, nll): two finite 1-D arrays of one length >= 2 (one
    sample has no spread, and its bootstrap error would be 0)."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be a pair (entropy, nll) of arrays, got "
                        f"{type(pair).__name__}")
    h = check_real_array(f"{name}[0] (entropy)", pair[0])
    y = check_real_array(f"{name}[1] (nll)", pair[1])
    if h.ndim != 1 or h.size < 2 or h.shape != y.shape:
        raise ValueError(f"{name} must hold two 1-D arrays of one length >= 2, got shapes "
                         f"{h.shape} and {y.shape}")
    return h, y
