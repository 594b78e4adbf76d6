"""Noise schedules (minisedd/noise.py; lesson 01).

Claims checked:
- rate(t) is the derivative of total(t), for both schedules, at many t including t = 0 and
  t = 1 and points within 1e-9 of them (finite differences, one-sided at the ends);
- Geometric: total(0) = sigma_min and total(1) = sigma_max;
- LogLinear: the masking probability 1 - exp(-total(t)) is (1 - eps) t, also through the
  absorbing kernel itself;
- both are vectorized over t and return no warning or NaN at the ends.
"""
import warnings

import numpy as np
import pytest

from minisedd import Absorbing, Geometric, LogLinear

SCHEDULES = [Geometric(), Geometric(1e-3, 20.0), Geometric(0.5, 2.0),
             LogLinear(), LogLinear(1e-2), LogLinear(0.5)]
TIMES = np.concatenate([[0.0, 1e-9, 1e-6, 1e-3], np.linspace(0.01, 0.99, 25),
                        [1.0 - 1e-3, 1.0 - 1e-6, 1.0 - 1e-9, 1.0]])


def finite_difference(f, t, h=1e-7):
    """d f / d t at t in [0, 1]: centred where t +- h stays in [0, 1], else one-sided.

    The one-sided formulas are second order, (-3 f(t) + 4 f(t + h) - f(t + 2h)) / 2h and
    its mirror, so every estimate has error O(h^2) like the centred one.
    """
    if t - h < 0.0:
        return (-3.0 * f(t) + 4.0 * f(t + h) - f(t + 2 * h)) / (2 * h)
    if t + h > 1.0:
        return (3.0 * f(t) - 4.0 * f(t - h) + f(t - 2 * h)) / (2 * h)
    return (f(t + h) - f(t - h)) / (2 * h)


@pytest.mark.parametrize("noise", SCHEDULES, ids=repr)
def test_rate_is_the_derivative_of_total(noise):
    # Error budget at h = 1e-7: truncation h^2 |f'''| / (3 |f'|) is at most ~1e-8 (LogLinear
    # at t = 1, where f'''/f' = 2 / eps^2), rounding 2e-16 |f| / (h |f'|) below ~4e-10.
    total = lambda t: float(noise.total(t))   # noqa: E731
    rate = noise.rate(TIMES)
    numeric = np.array([finite_difference(total, t) for t in TIMES])
    assert rate.shape == TIMES.shape and rate.min() > 0.0
    np.testing.assert_allclose(rate, numeric, rtol=1e-7, atol=0)


@pytest.mark.parametrize("sigma_min, sigma_max", [(1e-4, 20.0), (1e-3, 20.0), (0.5, 2.0)])
def test_geometric_end_points(sigma_min, sigma_max):
    noise = Geometric(sigma_min, sigma_max)
    assert noise.total(0.0) == sigma_min
    np.testing.assert_allclose(noise.total(1.0), sigma_max, rtol=1e-14)
    # sigma(t) = sigma_bar(t) ln(sigma_max / sigma_min) at the end points too.
    np.testing.assert_allclose(noise.rate(np.array([0.0, 1.0])),
                               np.array([sigma_min, sigma_max]) * np.log(sigma_max / sigma_min),
                               rtol=1e-14)


@pytest.mark.parametrize("eps", [1e-3, 1e-2, 0.5])
def test_loglinear_masking_probability_is_linear_in_t(eps):
    noise = LogLinear(eps)
    t = np.concatenate([[0.0, 1e-12, 1e-6], np.linspace(0.05, 0.95, 19), [1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb = noise.total(t)
    assert sb[0] == 0.0
    # Relative comparison (atol = 0): at t = 1e-12 this needs log1p, not log(1 - x).
    np.testing.assert_allclose(-np.expm1(-sb), (1.0 - eps) * t, rtol=1e-14, atol=0)
    np.testing.assert_allclose(sb[-1], -np.log(eps), rtol=1e-14)
    # The same through the absorbing kernel: P[x, mask_id] at sigma_bar(t) is (1 - eps) t.
    P = Absorbing(4).transition(sb)                    # (T, 4, 4)
    np.testing.assert_allclose(P[:, 0, 3], (1.0 - eps) * t, rtol=1e-14, atol=0)


@pytest.mark.parametrize("noise", SCHEDULES, ids=repr)
def test_schedules_are_vectorized_and_finite_at_the_ends(noise):
    t = np.array([[0.0, 0.25], [0.5, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total, rate = noise.total(t), noise.rate(t)
    assert total.shape == t.shape and rate.shape == t.shape
    assert np.isfinite(total).all() and np.isfinite(rate).all()
    for i in range(2):
        for j in range(2):
            assert total[i, j] == noise.total(t[i, j])
            assert rate[i, j] == noise.rate(t[i, j])
    assert np.all(np.diff(total.ravel()) > 0)          # total noise grows with t
