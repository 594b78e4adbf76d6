"""The score protocol, and the concrete score written through a posterior over clean tokens.

A *score* is any object with ``.graph``, ``.length`` and ``.log_score(x_t, sigma_bar)``
returning log concrete scores (B, L, n) (MATH.md section 3). The samplers and the
likelihood accept any score, so a trained ``ScoreMLP`` and the exact ``ExactScore``
are interchangeable.

Both build their score the same way. Because positions are noised independently,

    p_t(x with x_i := y) = sum_v p(x0_i = v, x_{-i}) P[v, y]

so with pi_i(v) = p(x0_i = v | x_{-i}) (the posterior of the clean token at i given
the other noisy positions)

    s(x)[i, y] = (pi_i P)_y / (pi_i P)_{x_i}            (exact for any graph)

ExactScore computes pi_i by enumeration; ScoreMLP predicts it with a softmax. For the
absorbing graph at a masked position this is s_y = pi_i(y) / expm1(sigma_bar): the
normalized parameterization of MATH.md section 3.
"""
import numpy as np

from .checks import _show, check_int, check_sigma_bar, check_tokens
from .graphs import Graph

SB_FLOOR = 1e-12   # sigma_bar used by a score is at least this: at sigma_bar = 0 a masked
                   # token has probability 0 and its ratios are infinite.


def check_score(score, graph=None, length=None, name="score"):
    """Check that `score` follows the protocol: .graph a minisedd Graph, .length an int >= 1,
    a .log_score method (and that it matches a graph / length when given)."""
    for attr in ("graph", "length", "log_score"):
        if not hasattr(score, attr):
            raise TypeError(f"{name} must provide .graph, .length and .log_score(x_t, sigma_bar); "
                            f"{type(score).__name__} has no .{attr}")
    if not isinstance(score.graph, Graph):
        raise TypeError(f"{name}.graph must be a minisedd Graph (Uniform, Absorbing or Graph(Q)), "
                        f"got {_show(score.graph)}")
    check_int(f"{name}.length", score.length, low=1)
    if graph is not None and (score.graph.kind != graph.kind or score.graph.n != graph.n
                              or not np.array_equal(score.graph.Q, graph.Q)):
        raise ValueError(f"{name}.graph must be {graph!r}, got {score.graph!r}")
    if length is not None and score.length != length:
        raise ValueError(f"{name}.length must be {length}, got {score.length}")
    return score


def check_score_input(score, x_t, sigma_bar):
    """Validate (x_t (B, L), sigma_bar float or (B,)) for a score; returns (x_t, sb (B,))."""
    x_t = check_tokens("x_t", x_t, score.graph.n, ndim=2)
    if x_t.shape[1] != score.length:
        raise ValueError(f"x_t must have shape (B, {score.length}) for this score, got {x_t.shape}")
    sb = check_sigma_bar("sigma_bar", sigma_bar, batch=x_t.shape[0])
    return x_t, sb


def posterior_score_forward(pi, P, x_t):
    """Log concrete score from a posterior over clean tokens.

    pi: (B, L, K) posterior pi_i(v) over the clean tokens v < K (rows sum to 1; for ExactScore
        they may be any positive multiple); P: (B, n, n) kernels expm(sigma_bar Q); x_t: int (B, L).
    log_s[b, i, y] = log (pi_i P)_y - log (pi_i P)_{x_i}   -> (B, L, n), with log_s[i, x_i] = 0.
    """
    K = pi.shape[-1]
    u = np.einsum("blk,bkn->bln", pi, P[:, :K, :])              # (B, L, n): p_t(x_i := y | x_{-i})
    with np.errstate(divide="ignore"):
        log_u = np.log(u)                                        # -inf where y cannot be reached
    log_u_self = np.take_along_axis(log_u, x_t[:, :, None], axis=2)   # (B, L, 1)
    # where x_i itself has probability 0 given the rest (an exact score, absorbing graph, a token
    # unmasked against its context) no ratio exists; s = 1 there. The reverse rates out of an
    # unmasked token are 0 on the absorbing graph, so samplers never use these entries.
    lost = ~np.isfinite(log_u_self)                              # (B, L, 1)
    log_s = np.where(lost, 0.0, log_u - np.where(lost, 0.0, log_u_self))   # (B, L, n)
    return log_s, (pi, P, x_t, u, lost)


def posterior_score_backward(dlog_s, cache):
    """dlog_s (B, L, n) -> dpi (B, L, K)."""
    pi, P, x_t, u, lost = cache
    K = pi.shape[-1]
    dlog_u = np.where(lost, 0.0, dlog_s)                         # (B, L, n)
    dlog_u_self = -dlog_u.sum(axis=2, keepdims=True)             # log_u_self fans out to every y
    np.put_along_axis(dlog_u, x_t[:, :, None],
                      np.take_along_axis(dlog_u, x_t[:, :, None], axis=2) + dlog_u_self, axis=2)
    du = np.where(u > 0, dlog_u / np.where(u > 0, u, 1.0), 0.0)  # d log u = du / u
    dpi = np.einsum("bln,bkn->blk", du, P[:, :K, :])
    return dpi


def check_length(length):
    return check_int("length", length, low=1)
