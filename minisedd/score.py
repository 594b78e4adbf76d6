"""The score protocol, and the concrete score written through a posterior over clean tokens.

A *score* is any object with ``.graph``, ``.length`` and ``.log_score(x_t, sigma_bar)``
returning log concrete scores (B, L, n) (lesson 02). The samplers and the
likelihood accept any score, so a trained ``ScoreMLP`` and the exact ``ExactScore``
are interchangeable.

Both build their score the same way. Because positions are noised independently,

    p_t(x with x_i := y) = sum_v p(x0_i = v, x_{-i}) P[v, y]

so with pi_i(v) = p(x0_i = v | x_{-i}) (the posterior of the clean token at i given
the other noisy positions)

    s(x)[i, y] = (pi_i P)_y / (pi_i P)_{x_i}            (exact for any graph)

ExactScore computes pi_i by enumeration; ScoreMLP predicts it with a softmax. For the
absorbing graph at a masked position this is s_y = pi_i(y) / expm1(sigma_bar): the
normalized parameterization (lesson 04 derives this posterior-to-score map).
"""
import numpy as np

from .checks import _show, check_int, check_real_array, check_sigma_bar, check_tokens
from .graphs import Graph
from .nn import sum_last

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


def check_transition(graph, transition, batch):
    """Kernels handed to a network's forward: (B, n, n), finite, >= 0, rows summing to 1."""
    P = check_real_array("transition", transition, shape=(batch, graph.n, graph.n), low=0.0)
    if np.abs(P.sum(axis=-1) - 1.0).max(initial=0.0) > 1e-6:
        raise ValueError("transition must hold kernels whose rows sum to 1 (expm(sigma_bar Q) "
                         "of the model's graph)")
    return P


def posterior_score_forward(pi, P, x_t, graph=None):
    """Log concrete score from a posterior over clean tokens.

    pi: (B, L, n_clean) posterior pi_i(v) over the clean tokens v < n_clean (rows sum to 1; for
        ExactScore they may be any positive multiple); P: (B, n, n) kernels expm(sigma_bar Q);
        x_t: int (B, L); graph: the graph P belongs to, optional: a Uniform or Absorbing graph
        lets the product pi P use the structure of its kernel (below) instead of a (B, n, n)
        product; any other graph, or None, takes the general product.
    p_tok = pi_i P, the probability of each token y at position i given the rest, (B, L, n);
    log_s[b, i, y] = log p_tok[y] - log p_tok[x_i]   -> (B, L, n), with log_s[i, x_i] = 0.
    Returns (log_s, cache).

    The structured kernels, with keep = e^{-sb} and jump = 1 - e^{-sb}:
    Uniform    P = keep I + (jump / n) 11^T   so  pi P = keep pi + (jump / n) sum(pi)
    Absorbing  P[v, y] = keep [y = v] + jump [y = mask] for a clean v,
               so (pi P)_y = keep pi_y for a clean y, and (pi P)_mask = jump sum(pi).
    keep and jump are read off P itself: Uniform jump = n P[0, 1], keep = P[0, 0] - P[0, 1];
    Absorbing keep = P[0, 0], jump = P[0, mask].
    """
    # _at_tokens reads by position in the flat array: an id out of range would read another
    # entry instead of failing, so x_t is checked first
    x_t = check_tokens("x_t", x_t, P.shape[-1], ndim=2)
    if x_t.shape != pi.shape[:2]:
        raise ValueError(f"x_t must have the shape (B, L) = {pi.shape[:2]} of pi, got {x_t.shape}")
    return _posterior_score_forward(pi, P, x_t, graph)


def _posterior_score_forward(pi, P, x_t, graph=None):
    """posterior_score_forward without the check of x_t, for the networks and ExactScore, whose
    own forward passes have checked x_t already (or drew it themselves, in train)."""
    structure = _structure(graph, P, pi.dtype)
    P = P.astype(pi.dtype, copy=False)                           # float32 models stay float32
    p_tok = _apply_kernel(pi, P, structure)                     # (B, L, n): p_t(x_i := y | x_{-i})
    with np.errstate(divide="ignore"):
        log_p = np.log(p_tok)                                    # -inf where y cannot be reached
    log_p_self = _at_tokens(log_p, x_t)[:, :, None]              # (B, L, 1): log_p[b, i, x_t[b, i]]
    # where x_i itself has probability 0 given the rest (an exact score, absorbing graph, a token
    # unmasked against its context) no ratio exists; s = 1 there. The reverse rates out of an
    # unmasked token are 0 on the absorbing graph, so samplers never use these entries.
    # (only a probability of exactly 0: a NaN from a broken network stays NaN, and the checks
    # of whoever reads the score report it)
    lost = log_p_self == -np.inf                                 # (B, L, 1)
    if lost.any():
        log_s = np.where(lost, 0.0, log_p - np.where(lost, 0.0, log_p_self))   # (B, L, n)
    else:
        log_s = log_p - log_p_self                               # (B, L, n)
    return log_s, (pi.shape[-1], P, x_t, p_tok, lost, structure)


def posterior_score_backward(dlog_s, cache):
    """dlog_s (B, L, n) -> dpi (B, L, n_clean)."""
    n_clean, P, x_t, p_tok, lost, structure = cache
    dlog_p = np.where(lost, 0.0, dlog_s)                         # (B, L, n)
    dlog_p_self = -sum_last(dlog_p)[:, :, 0]                     # log_p_self fans out to every y
    _at_tokens(dlog_p, x_t, add=dlog_p_self)                     # (B, L) entries [b, i, x_t[b, i]]
    reached = p_tok > 0
    if reached.all():                                            # d log p = dp / p
        dp_tok = dlog_p / p_tok
    else:
        dp_tok = np.where(reached, dlog_p / np.where(reached, p_tok, 1.0), 0.0)
    return _apply_kernel_transpose(dp_tok, P, n_clean, structure)   # (B, L, n_clean)


def _at_tokens(a, x_t, add=None):
    """The entries a[b, i, x_t[b, i]] of a (B, L, n) array, (B, L); or, with add (B, L), add it
    to them in place (a must then be C-contiguous).

    The same as a[arange(B)[:, None], arange(L)[None, :], x_t], through the entries' positions
    in the flat array, b L n + i n + x_t[b, i]: one index array instead of three, 3 to 4 times
    faster on the toy's (256, 4, 4). x_t is not checked here: an id outside [0, n) would read
    another position's entry (posterior_score_forward checks it; the engine's callers
    checked it before, or drew it themselves).
    """
    B, L = x_t.shape
    flat = np.arange(0, B * L * a.shape[2], a.shape[2]) + x_t.reshape(-1)
    if add is None:
        return a.reshape(-1).take(flat).reshape(B, L)
    if not a.flags.c_contiguous:                 # reshape would copy: the sum would be lost
        raise ValueError("_at_tokens adds into a contiguous array only")
    a.reshape(-1)[flat] += add.reshape(-1)       # distinct positions: each receives its own
    return None


def _structure(graph, P, dtype):
    """("uniform" | "absorbing", keep (B, 1, 1), jump (B, 1, 1)) of `dtype` for a structured
    graph's kernel P (B, n, n), else ("general", None, None)."""
    kind = getattr(graph, "kind", None)
    if kind == "uniform":
        jump = P[:, 0:1, 1:2] * P.shape[-1]                      # (B, 1, 1): P[0, 1] = jump / n
        keep = P[:, 0:1, 0:1] - P[:, 0:1, 1:2]                   # P[0, 0] - P[0, 1] = keep
    elif kind == "absorbing":
        mask = P.shape[-1] - 1
        keep, jump = P[:, 0:1, 0:1], P[:, 0:1, mask:mask + 1]    # P[0, 0], P[0, mask]
    else:
        return "general", None, None
    return kind, keep.astype(dtype), jump.astype(dtype)


def _apply_kernel(pi, P, structure):
    """pi P[:n_clean, :] for pi (B, L, n_clean): (B, L, n)."""
    kind, keep, jump = structure
    n, n_clean = P.shape[-1], pi.shape[-1]
    if kind == "uniform":
        return keep * pi + (jump / n) * sum_last(pi)
    if kind == "absorbing":
        return np.concatenate([keep * pi, jump * sum_last(pi)], axis=2)
    return np.einsum("blv,bvn->bln", pi, P[:, :n_clean, :])


def _apply_kernel_transpose(dp, P, n_clean, structure):
    """dp P[:n_clean, :]^T for dp (B, L, n): (B, L, n_clean), the backward of _apply_kernel."""
    kind, keep, jump = structure
    n = P.shape[-1]
    if kind == "uniform":
        return keep * dp + (jump / n) * sum_last(dp)
    if kind == "absorbing":
        return keep * dp[:, :, :n_clean] + jump * dp[:, :, n_clean:]
    return np.einsum("bln,bvn->blv", dp, P[:, :n_clean, :])


def check_length(length):
    return check_int("length", length, low=1)
