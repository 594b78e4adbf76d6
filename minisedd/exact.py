"""ExactScore: the true concrete score of a distribution over a finite set of sequences.

With data sequences x0^k (k = 1..M, the index k of a sequence) of probabilities p_k, the
noised distribution is

    p_t(x) = sum_k p_k prod_j P[x0^k_j, x_j]          P = expm(sigma_bar Q)

and the posterior of the clean token at position i given the other noisy positions is

    pi_i(v)  proportional to  sum_{k : x0^k_i = v} p_k prod_{j != i} P[x0^k_j, x_j]

from which score.py forms s(x)[i, y] = (pi_i P)_y / (pi_i P)_{x_i}. Everything is
computed by enumeration over the M sequences, with two matrix products per noise level:
the sum over j of log P[x0^k_j, x_j] is one-hot(x) @ G, with G[(j, x), k] = log P[x0^k_j, x].
"""
import numpy as np

from .checks import check_int, check_real_array, check_tokens
from .graphs import Graph
from .nn import sum_last
from .score import SB_FLOOR, _posterior_score_forward, check_score_input
from .threads import blas_threads

CHUNK = 512        # rows of x_t handled at once, to bound memory at CHUNK * M * L floats


def unique_rows(x, n):
    """Distinct rows of an int array x (B, L) with entries < n: (unique (U, L), inverse (B,)).

    Rows are read as numbers in base n, which makes this much faster than np.unique(axis=0).
    """
    n = check_int("n", n, low=1)
    x = check_tokens("x", x, n, ndim=2)          # an id outside [0, n) would merge two rows
    if x.shape[1] * np.log2(n) < 62:
        keys = x @ (n ** np.arange(x.shape[1], dtype=np.int64))             # (B,)
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return x[first], inverse.reshape(-1)
    unique, inverse = np.unique(x, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


class ExactScore:
    """The exact score of `probs` over the rows of `sequences` (uniform when probs is None).

    graph: a Graph; sequences: int (M, L) with clean tokens (< graph.n_clean);
    probs: (M,) non-negative, summing to 1. Repeated rows simply add their probabilities.
    clean_marginals: (L, n_clean), p0(x0_i = v) per position i.
    """

    def __init__(self, graph, sequences, probs=None):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a minisedd Graph, got {type(graph).__name__}")
        seqs = check_tokens("sequences", sequences, graph.n_clean, ndim=2)
        if seqs.shape[0] == 0 or seqs.shape[1] == 0:
            raise ValueError(f"sequences must hold at least one sequence of length >= 1, "
                             f"got shape {seqs.shape}")
        M = seqs.shape[0]
        if probs is None:
            probs = np.full(M, 1.0 / M)
        probs = check_real_array("probs", probs, shape=(M,))
        if probs.min() < 0:
            raise ValueError(f"probs must be non-negative, got a minimum of {probs.min()}")
        if abs(probs.sum() - 1.0) > 1e-9:
            raise ValueError(f"probs must sum to 1, got {probs.sum():.12g}")
        keep = probs > 0
        self.graph = graph
        self.length = seqs.shape[1]
        self.sequences = seqs[keep]                                   # (M, L)
        self.probs = probs[keep]                                      # (M,)
        self.log_probs = np.log(self.probs)                           # (M,)
        n_clean = graph.n_clean
        # onehot_seq[k, j, v] = [x0^k_j = v]: sums over sequences grouped by their token at j
        self.onehot_seq = np.zeros((self.sequences.shape[0], self.length, n_clean))
        np.put_along_axis(self.onehot_seq, self.sequences[:, :, None], 1.0, axis=2)
        self.clean_marginals = np.einsum("k,klv->lv", self.probs, self.onehot_seq)  # (L, n_clean)

    def posterior(self, x_t, sigma_bar):
        """pi_i(v) = p(x0_i = v | x_t at positions j != i), (B, L, n_clean); rows sum to 1."""
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        return self._posterior(x_t, np.maximum(sb, SB_FLOOR))

    def log_score(self, x_t, sigma_bar):
        """Exact log concrete scores (B, L, n); -inf where a ratio is exactly 0."""
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        sb = np.maximum(sb, SB_FLOOR)
        pi = self._posterior(x_t, sb)
        return _posterior_score_forward(pi, self.graph._transition(sb), x_t, self.graph)[0]

    def _posterior(self, x_t, sb):
        B, L, n_clean = x_t.shape[0], self.length, self.graph.n_clean
        pi = np.empty((B, L, n_clean))
        # rows with the same noise level share a kernel; rows with the same x_t share an answer
        levels, level_of = np.unique(sb, return_inverse=True)
        with blas_threads():      # one BLAS thread unless asked: see threads.py
            for index, level in enumerate(levels):
                rows = np.flatnonzero(level_of.reshape(-1) == index)
                unique_x, back = unique_rows(x_t[rows], self.graph.n)
                out = np.concatenate([self._posterior_one_level(unique_x[c:c + CHUNK], level)
                                      for c in range(0, unique_x.shape[0], CHUNK)])
                pi[rows] = out[back.reshape(-1)]
        return pi

    def _posterior_one_level(self, x, sb):
        """Posterior for rows x (B, L) at one noise level sb."""
        B, L, n = x.shape[0], self.length, self.graph.n
        P = self.graph._transition(sb)                                # (n, n)
        impossible = P == 0
        log_P = np.log(np.where(impossible, 1.0, P))                  # log P, 0 where P = 0
        # G[k, j, x] = log P[x0^k_j, x], and Z[k, j, x] = [P[x0^k_j, x] = 0]
        G = log_P[self.sequences]                                     # (M, L, n)
        Z = impossible[self.sequences].astype(np.float64)             # (M, L, n)
        onehot = np.zeros((B, L, n))
        np.put_along_axis(onehot, x[:, :, None], 1.0, axis=2)        # (B, L, n)
        flat = onehot.reshape(B, L * n)
        total = flat @ G.reshape(-1, L * n).T                         # (B, M): sum_j log P[x0_j, x_j]
        zeros = flat @ Z.reshape(-1, L * n).T                         # (B, M): impossible positions
        # leave position i out: subtract its own term (log P and zero count kept apart, so an
        # impossible position never turns into -inf - (-inf))
        own = G[:, np.arange(L), x].transpose(1, 0, 2)                # (B, M, L): log P[x0_j, x_j]
        own_zero = Z[:, np.arange(L), x].transpose(1, 0, 2)           # (B, M, L)
        loo = total[:, :, None] - own                                 # (B, M, L)
        loo = np.where(zeros[:, :, None] - own_zero > 0.5, -np.inf, loo)
        log_w = loo + self.log_probs[None, :, None]                   # (B, M, L)
        top = log_w.max(axis=1, keepdims=True)                        # (B, 1, L)
        # a context x_{-i} that no sequence can produce (possible only when some P is 0, e.g. a
        # sampler unmasked two tokens that never occur together) has no posterior: use p0(x0_i)
        dead = ~np.isfinite(top[:, 0, :])                             # (B, L)
        w = np.exp(log_w - np.where(np.isfinite(top), top, 0.0))      # (B, M, L), scale cancels
        pi = np.stack([w[:, :, j] @ self.onehot_seq[:, j, :] for j in range(L)],
                      axis=1)                                         # (B, L, n_clean)
        pi[dead] = self.clean_marginals[np.nonzero(dead)[1]]
        return pi / sum_last(pi)

    def prob_t(self, x_t, sigma_bar):
        """p_t(x_t) for each row (B,), by direct summation (used to check the score)."""
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        P = self.graph._transition(sb)                                # (B, n, n)
        # P[b, x0^k_j, x_t[b, j]] for all b, k, j
        terms = P[np.arange(x_t.shape[0])[:, None, None], self.sequences[None], x_t[:, None, :]]
        return (self.probs[None] * terms.prod(axis=2)).sum(axis=1)

    def __repr__(self):
        return (f"ExactScore({self.graph!r}, {self.sequences.shape[0]} sequences of length "
                f"{self.length})")
