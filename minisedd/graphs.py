"""Forward processes on one token: rate matrices and their transition kernels.

Row convention (lesson 01): ``Q[x, y] >= 0`` is the rate of jumping from
token x to token y (y != x) and every row of Q sums to 0. With total noise
``sb = sigma_bar(t)`` the transition kernel is ``P = expm(sb * Q)`` and
``P[x0, x] = p(x_t = x | x0)``. In a sequence of length L each position is
noised independently, with the same kernel.

``Graph(Q)`` works for any valid rate matrix through ``scipy.linalg.expm``.
``Uniform`` and ``Absorbing`` override ``_expm`` with their closed forms; the
tests check that both agree with expm to 1e-12.

Three ways to get the kernel: ``transition(sigma_bar)`` (public, checks its argument),
``_transition(sb)`` (no checks, entries clipped at 0, for the engine's inner loops) and
``_expm(sb)`` (raw expm, negative sb allowed: the Tweedie step needs expm(-delta Q)).
"""
import numpy as np
import scipy.linalg

from .checks import check_int, check_real_array, check_rng, check_sigma_bar, check_tokens
from .threads import blas_threads


class Graph:
    """A continuous-time Markov chain on n tokens, given by its rate matrix Q (n, n).

    Attributes
    ----------
    n : int, the number of tokens.
    Q : (n, n) float array, read-only; Q[x, y] is the rate x -> y.
    n_clean : int, token ids [0, n_clean) may appear in clean data
        (all n for a general graph; Absorbing excludes its mask token).
    limit : (n,) stationary distribution (limit Q = 0), or None when it is not unique.
    reachable : (n, n) bool, reachable[x, y] when x can reach y by jumps (P[x, y] > 0 for sb > 0).
    spectral_gap : float, the slowest decay rate (smallest nonzero -Re eigenvalue of Q): P
        approaches its limit like e^{-spectral_gap sb}. 1 for Uniform and Absorbing.
    """

    kind = "graph"

    def __init__(self, Q):
        Q = check_real_array("Q", Q)
        if Q.ndim != 2 or Q.shape[0] != Q.shape[1]:
            raise ValueError(f"Q must be a square (n, n) matrix, got shape {Q.shape}")
        n = Q.shape[0]
        check_int("n (the size of Q)", n, low=2)
        off = Q - np.diag(np.diag(Q))
        if off.min() < 0:
            i, j = np.unravel_index(np.argmin(off), off.shape)
            raise ValueError(f"Q must have non-negative off-diagonal rates, got Q[{i}, {j}] = {Q[i, j]}")
        rows = Q.sum(axis=1)
        tol = 1e-10 * max(1.0, np.abs(Q).max())
        if np.abs(rows).max() > tol:
            i = int(np.argmax(np.abs(rows)))
            raise ValueError(f"Q must have rows summing to 0, got row {i} summing to {rows[i]:.3g}")
        Q = Q - np.diag(rows)                 # remove rounding so rows sum to exactly 0
        Q.setflags(write=False)
        self.n = n
        self.Q = Q
        # Q_in[x, y] = Q[y, x] for y != x, 0 on the diagonal: the rate *into* x from y,
        # the weight of score entropy and of the reverse rates (lessons 02-03).
        self.Q_in = np.ascontiguousarray(off.T)
        self.Q_in.setflags(write=False)
        self.n_clean = n
        self.limit = self._stationary()
        self.reachable = self._reachable(off > 0)
        rates = -np.linalg.eigvals(Q).real                       # 0 and the decay rates of Q
        rates = rates[rates > 1e-9 * max(1.0, np.abs(Q).max())]
        self.spectral_gap = float(rates.min()) if rates.size else 0.0   # 0: nothing moves

    @staticmethod
    def _reachable(edges):
        """reachable[x, y]: some path of jumps leads from x to y (or y = x), from Q's pattern.

        Where P = expm(sb Q) is positive for sb > 0, read off the graph's structure rather than
        off the numbers (a long path can have an entry of expm far below any threshold).
        """
        R = edges | np.eye(edges.shape[0], dtype=bool)
        for _ in range(int(np.ceil(np.log2(edges.shape[0]))) + 1):   # paths of length 2^k
            R = (R.astype(np.int64) @ R.astype(np.int64)) > 0
        return R

    # -- kernels ---------------------------------------------------------------
    def _expm(self, sb):
        """expm(sb * Q) for sb a float (n, n) or an array (B,) -> (B, n, n); no checks.

        Negative sb is allowed here: the Tweedie sampler needs expm(-delta Q). Subclasses
        override this with closed forms.
        """
        sb = np.asarray(sb, dtype=np.float64)
        with blas_threads():      # SciPy's expm calls BLAS on (n, n) matrices: one thread
            if sb.ndim == 0:
                P = scipy.linalg.expm(float(sb) * self.Q)
                self._check_kernel(P[None], sb.reshape(1))
                return P
            values, inverse = np.unique(sb, return_inverse=True)   # one expm per distinct value
            P = scipy.linalg.expm(values[:, None, None] * self.Q)  # (U, n, n)
            self._check_kernel(P, values)
        return P[inverse.reshape(-1)]

    def _check_kernel(self, P, sb):
        """expm can fail quietly when sb * Q is huge (NaN, inf, or rows far from summing to 1):
        a ValueError instead of a kernel that is not one. (The rows are checked for sb >= 0
        only: expm(-delta Q), which the Tweedie step uses, has large entries of both signs that
        cancel, and sampling.tweedie_probs documents the precision that keeps.)"""
        rows = P[sb >= 0].sum(axis=-1)                   # P (U, n, n), sb (U,)
        if not (np.isfinite(P).all() and np.abs(rows - 1.0).max(initial=0.0) <= 1e-6):
            raise ValueError(f"expm(sigma_bar Q) is not a transition kernel for sigma_bar up to "
                             f"{np.abs(sb).max():.3g} (rates up to {np.abs(self.Q).max():.3g}): "
                             f"sigma_bar times the rates is too large for scipy.linalg.expm")

    def transition(self, sigma_bar):
        """Transition kernel P = expm(sigma_bar * Q).

        sigma_bar: float >= 0 -> (n, n); or array (B,) -> (B, n, n).
        P[..., x0, x] = p(x_t = x | x0); rows sum to 1.
        """
        sb = check_sigma_bar("sigma_bar", sigma_bar)
        if sb.ndim > 1:
            raise ValueError(f"sigma_bar must be a float or a 1-D array, got shape {sb.shape}")
        return self._transition(sb)

    def _transition(self, sb):
        """transition(sb) without the argument checks, for the engine's inner loops (sb >= 0):
        (n, n) for a float, (B, n, n) for an array (B,)."""
        return np.maximum(self._expm(sb), 0.0)   # expm may leave -1e-17 where the value is 0

    def _stationary(self):
        """The unique distribution `limit` with limit Q = 0, sum(limit) = 1, or None."""
        null = scipy.linalg.null_space(self.Q.T)                  # (n, k)
        if null.shape[1] != 1:
            return None
        limit = null[:, 0] / null[:, 0].sum()
        if limit.min() < -1e-10:
            return None
        limit = np.maximum(limit, 0.0)
        return limit / limit.sum()

    # -- sampling --------------------------------------------------------------
    def sample_transition(self, x0, sigma_bar, rng=None):
        """Draw x_t ~ P[x0, .] at every position.

        x0: int (B, L); sigma_bar: float or (B,); rng: None, an int seed or a
        np.random.Generator. Returns int (B, L).
        """
        x0 = check_tokens("x0", x0, self.n, ndim=2)
        sb = check_sigma_bar("sigma_bar", sigma_bar, batch=x0.shape[0])
        rng = check_rng("rng", rng)
        P = self._transition(sb)                                       # (B, n, n)
        rows = np.take_along_axis(P, x0[:, :, None], axis=1)      # (B, L, n): P[b, x0[b, i], :]
        return _draw(rows, rng)

    def sample_limit(self, shape, rng=None):
        """Draw tokens from the limit distribution (sigma_bar -> infinity), int array of `shape`.

        rng: None, an int seed or a np.random.Generator.
        """
        shape, rng = _check_shape(shape), check_rng("rng", rng)
        if self.limit is None:
            raise ValueError("this graph has no unique limit distribution (Q has more than one "
                             "stationary distribution), so sample_limit is undefined")
        return rng.choice(self.n, size=shape, p=self.limit)

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n})"


class Uniform(Graph):
    """Uniform graph: every token jumps to every token at rate 1/n; Q = 11^T/n - I.

    (The paper writes Q = 11^T - n I; like the authors' code this divides it by n, so that
    sigma_bar here is n times the paper's.)

    Closed form: P = e^{-sb} I + (1 - e^{-sb}) 11^T / n. Limit: uniform over n tokens.
    """

    kind = "uniform"

    def __init__(self, n):
        n = check_int("n", n, low=2)
        super().__init__(np.ones((n, n)) / n - np.eye(n))

    def _expm(self, sb):
        sb = np.asarray(sb, dtype=np.float64)
        jump = -np.expm1(-sb) / self.n      # (1 - e^{-sb}) / n, exact for small sb
        P = np.empty(sb.shape + (self.n, self.n))
        P[...] = jump[..., None, None]                            # every entry: (1 - e^{-sb}) / n
        diagonal = np.arange(self.n)
        P[..., diagonal, diagonal] += np.exp(-sb)[..., None]      # plus e^{-sb} on the diagonal
        return P

    def _stationary(self):
        return np.full(self.n, 1.0 / self.n)

    def sample_limit(self, shape, rng=None):
        shape, rng = _check_shape(shape), check_rng("rng", rng)
        return rng.integers(0, self.n, size=shape)


class Absorbing(Graph):
    """Absorbing graph: every real token jumps to the mask token mask_id = n - 1 at rate 1;
    the mask stays.

    Closed form: P[x, x] = e^{-sb}, P[x, mask_id] = 1 - e^{-sb}, P[mask_id, mask_id] = 1.
    Limit: all mask. Clean data uses the n_clean = n - 1 real tokens only.
    """

    kind = "absorbing"

    def __init__(self, n):
        n = check_int("n", n, low=2)
        self.mask_id = n - 1
        Q = np.zeros((n, n))
        Q[np.arange(n - 1), np.arange(n - 1)] = -1.0     # every real token leaves at rate 1 ...
        Q[np.arange(n - 1), n - 1] = 1.0                 # ... to the mask; its row stays 0
        super().__init__(Q)
        self.n_clean = n - 1

    def _expm(self, sb):
        sb = np.asarray(sb, dtype=np.float64)
        P = np.zeros(sb.shape + (self.n, self.n))
        diagonal = np.arange(self.n)
        P[..., diagonal, diagonal] = np.exp(-sb)[..., None]     # e^{-sb}: still unmasked
        P[..., :, self.mask_id] = -np.expm1(-sb)[..., None]     # 1 - e^{-sb}, exact for small sb
        P[..., self.mask_id, self.mask_id] = 1.0
        return P

    def _stationary(self):
        limit = np.zeros(self.n)
        limit[self.mask_id] = 1.0
        return limit

    def sample_limit(self, shape, rng=None):
        shape, _ = _check_shape(shape), check_rng("rng", rng)
        return np.full(shape, self.mask_id, dtype=np.int64)

    def __repr__(self):
        return f"Absorbing(n={self.n}, mask_id={self.mask_id})"


def _check_shape(shape):
    """An int or a tuple of ints >= 0, as a tuple."""
    return tuple(check_int("shape entry", s, low=0) for s in np.atleast_1d(shape))


def sample_categorical(probs, rng=None):
    """Draw one index per row of probs (..., n), each row non-negative with a positive sum.

    Rows are normalized here; a row with a negative, non-finite or all-zero entry list is an
    error (it has no distribution to draw from). rng: None, an int seed or a
    np.random.Generator. Returns int (...,).
    """
    probs = check_real_array("probs", probs, low=0.0)
    rng = check_rng("rng", rng)
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise ValueError(f"probs must have a last axis of categories, got shape {probs.shape}")
    with np.errstate(over="ignore"):        # an overflowing sum is reported below
        total = probs.sum(axis=-1)
    if (total <= 0).any():
        raise ValueError("probs must have a positive sum in every row, got a row of zeros")
    if not np.isfinite(total).all():
        raise ValueError("probs must have a finite sum in every row: the entries are too large "
                         "for float64 (divide them by their largest first)")
    return _draw(probs, rng)


def _draw(probs, rng):
    """sample_categorical without the checks, for the engine's inner loops."""
    cdf = np.cumsum(probs, axis=-1)                               # (..., n)
    level = rng.random(probs.shape[:-1] + (1,)) * cdf[..., -1:]   # scales the row to sum 1
    idx = (cdf <= level).sum(axis=-1)
    return np.minimum(idx, probs.shape[-1] - 1)
