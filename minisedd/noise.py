"""Noise schedules: total noise sigma_bar(t) and rate sigma(t) = d sigma_bar / dt (lesson 01).

Time runs over t in [0, 1]; the forward kernel at time t is expm(sigma_bar(t) Q).
Both methods are vectorized over t and reject t outside [0, 1].
"""
import numpy as np

from .checks import check_float, check_real_array


def _check_t(t):
    t = check_real_array("t", t)
    if t.size and (t.min() < 0.0 or t.max() > 1.0):
        raise ValueError(f"t must lie in [0, 1], got values from {t.min()} to {t.max()}")
    return t


class Geometric:
    """sigma_bar(t) = sigma_min^(1 - t) * sigma_max^t: noise grows geometrically.

    sigma(t) = sigma_bar(t) * ln(sigma_max / sigma_min). Note sigma_bar(0) = sigma_min > 0:
    the data is already noised a little at t = 0 (the likelihood bound adds that jump).
    """

    def __init__(self, sigma_min=1e-4, sigma_max=20.0):
        self.sigma_min = check_float("sigma_min", sigma_min, low=0.0, low_open=True)
        self.sigma_max = check_float("sigma_max", sigma_max, low=0.0, low_open=True)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min, got sigma_min={self.sigma_min}, "
                             f"sigma_max={self.sigma_max}")
        with np.errstate(over="ignore"):
            self.log_ratio = np.log(self.sigma_max / self.sigma_min)   # ln(sigma_max / sigma_min)
            largest_rate = self.log_ratio * self.sigma_max             # rate(1) = sigma_max ln(ratio)
        if not np.isfinite(largest_rate):
            raise ValueError(f"sigma_max / sigma_min or the largest rate sigma_max * "
                             f"ln(sigma_max / sigma_min) overflows float64, got sigma_min="
                             f"{self.sigma_min}, sigma_max={self.sigma_max}")

    def total(self, t):
        """sigma_bar(t), same shape as t."""
        t = _check_t(t)
        return self.sigma_min * np.exp(t * self.log_ratio)

    def rate(self, t):
        """sigma(t) = d sigma_bar / dt, same shape as t."""
        return self.total(t) * self.log_ratio

    def __repr__(self):
        return f"Geometric(sigma_min={self.sigma_min:g}, sigma_max={self.sigma_max:g})"


class LogLinear:
    """sigma_bar(t) = -log(1 - (1 - eps) t): the probability of a jump by time t is (1 - eps) t.

    sigma(t) = (1 - eps) / (1 - (1 - eps) t). For the absorbing graph, P(masked at t) = (1 - eps) t,
    and sigma_bar(1) = -log(eps) (about 6.9 for eps = 1e-3).
    """

    def __init__(self, eps=1e-3):
        self.eps = check_float("eps", eps, low=0.0, low_open=True, high=1.0)
        if self.eps == 1.0:
            raise ValueError("eps must be < 1, got 1.0")
        if 1.0 - self.eps == 1.0:            # then sigma_bar(1) = -log(eps) would be infinite
            raise ValueError(f"eps must be above about 5.6e-17 (1 - eps must differ from 1 "
                             f"in float64), got {self.eps}")

    def total(self, t):
        """sigma_bar(t), same shape as t; log1p keeps it exact for small t."""
        t = _check_t(t)
        return -np.log1p(-(1.0 - self.eps) * t)

    def rate(self, t):
        """sigma(t) = (1 - eps) / (1 - (1 - eps) t), same shape as t."""
        t = _check_t(t)
        return (1.0 - self.eps) / (1.0 - (1.0 - self.eps) * t)

    def __repr__(self):
        return f"LogLinear(eps={self.eps:g})"
