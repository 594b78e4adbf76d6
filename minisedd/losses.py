"""Score entropy, L2 (concrete score matching) and denoising score entropy (lessons 03-04).

Each loss returns ``(loss, gradient)``: the hand-derived derivative with respect to its
first argument, checked against finite differences in tests/test_losses.py.

    K(a)        = a (log a - 1),  K(0) = 0
    l_SE(z; r)  = e^z - r z + K(r)      >= 0, zero iff z = log r   (z = log s; for r > 0:
                                       at r = 0 it is e^z, positive for every z)
    dl_SE / dz  = e^z - r
    l_2(s; r)   = (s - r)^2,            dl_2 / ds = 2 (s - r)
"""
import numpy as np

from .checks import check_real_array, check_sigma_bar, check_tokens
from .graphs import Graph
from .score import _at_tokens


def _broadcast_weight(weight, shape):
    w = check_real_array("weight", weight, low=0.0)
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"weight must broadcast to shape {shape}, got shape {w.shape}") from None


def _check_pair(first_name, first, ratio, allow_neg_inf):
    first = check_real_array(first_name, first, allow_neg_inf=allow_neg_inf)
    ratio = check_real_array("ratio", ratio, low=0.0)
    if ratio.shape != first.shape:
        raise ValueError(f"ratio must have the shape of {first_name} {first.shape}, got {ratio.shape}")
    return first, ratio


def se_terms(z, r, w, with_grad=True):
    """Elementwise w * l_SE(z; r) and its derivative w * (e^z - r); arrays of one shape.
    with_grad=False skips the derivative (returned as None): a bound needs only the loss.

    Near the minimum the three terms e^z, -r z and K(r) cancel, and summed as written they
    leave a few ulps of either sign. With u = z - log r the same loss reads

        l_SE = e^z - r (1 + u) = r (expm1(u) - u),     dl_SE/dz = r expm1(u)

    and the second form is exactly 0 (and never negative) at u = 0; it is used for u <= 1,
    the first (which cannot overflow through expm1 when r is tiny) for u > 1 and for r = 0,
    where l_SE = e^z since K(0) = 0. Entries with w = 0 are skipped and contribute exactly 0
    to both, even where z = -inf (an exact score has log s = -inf where its ratio is 0).
    """
    loss = np.zeros(z.shape)
    active = np.flatnonzero(w > 0)                    # only these are computed (on the absorbing
    za, ra, wa = (np.take(a, active) for a in (z, r, w))   # graph: the masked positions), (K,)
    ez = np.exp(za)                                   # e^z, (K,): at r = 0 both are w e^z
    loss_a = wa * ez
    grad_a = loss_a.copy() if with_grad else None
    pos = np.flatnonzero(ra > 0)                      # the entries with a target (on the absorbing
    if pos.size == ra.size:                           # graph one per masked position; on the
        pos = slice(None)                             # uniform graph all of them)
    zp, rp, ezp, wp = za[pos], ra[pos], ez[pos], wa[pos]
    u = zp - np.log(rp)                               # z - log r
    near = u <= 1.0                                   # z at most log r + 1
    em = np.expm1(np.where(near, u, 0.0))             # expm1(u), only where used
    loss_a[pos] = wp * np.where(near, rp * (em - u), ezp - rp * (1.0 + u))
    loss.reshape(-1)[active] = loss_a                # (indexed assignment: faster than np.put)
    if not with_grad:
        return loss, None
    grad_a[pos] = wp * np.where(near, rp * em, ezp - rp)
    grad = np.zeros(z.shape)
    grad.reshape(-1)[active] = grad_a
    return loss, grad


def score_entropy(log_s, ratio, weight=1.0):
    """Score entropy summed over all entries: sum w * (e^z - r z + K(r)).

    log_s: log-scores z (any shape); ratio: target ratios r >= 0 (same shape);
    weight: w >= 0 broadcastable to that shape. Returns (loss float, dloss/dlog_s).
    """
    z, r = _check_pair("log_s", log_s, ratio, allow_neg_inf=True)
    w = _broadcast_weight(weight, z.shape)
    loss, grad = se_terms(z, r, w)
    return float(loss.sum()), grad


def l2_loss(s, ratio, weight=1.0):
    """Concrete score matching: sum w * (s - r)^2 on a raw score s that may go negative.

    Returns (loss float, dloss/ds = 2 w (s - r)).
    """
    s, r = _check_pair("s", s, ratio, allow_neg_inf=False)
    w = _broadcast_weight(weight, s.shape)
    diff = s - r
    return float((w * diff ** 2).sum()), 2.0 * w * diff


def dse_targets(graph, x_t, x0, sigma_bar, transition=None):
    """Ratios and weights of denoising score entropy for any graph.

    r[b, i, y] = P[x0_i, y] / P[x0_i, x_t_i]  with P = expm(sigma_bar[b] Q)   (B, L, n)
    w[b, i, y] = Q[y, x_t_i] for y != x_t_i, else 0   (the forward rate into x_t_i)
    x_t, x0: int (B, L); sigma_bar: (B,) or a float; transition: the kernels P (B, n, n) of
    sigma_bar when the caller has them already (None: computed here).
    Raises if some x_t is impossible given x0.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a minisedd Graph, got {type(graph).__name__}")
    x_t = check_tokens("x_t", x_t, graph.n, ndim=2)
    x0 = check_tokens("x0", x0, graph.n_clean, ndim=2)
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 must have the shape of x_t {x_t.shape}, got {x0.shape}")
    sb = check_sigma_bar("sigma_bar", sigma_bar, batch=x_t.shape[0])
    if transition is None:
        P = graph._transition(sb)                                 # (B, n, n)
    else:
        P = check_real_array("transition", transition, shape=(x_t.shape[0], graph.n, graph.n))
    return _dse_targets(graph, x_t, x0, P, sb)


def _dse_targets(graph, x_t, x0, P, sb):
    """dse_targets without the checks of its inputs (train's inner loop, whose inputs it made)."""
    B, L = x_t.shape
    n = P.shape[-1]
    # rows[b, i] = P[b, x0[b, i], :], taken from P as (B n, n) rows (one flat index: faster
    # than P[arange(B)[:, None], x0] on small arrays, and the same numbers)
    rows = P.reshape(B * n, n).take((np.arange(0, B * n, n)[:, None] + x0).reshape(-1), axis=0)
    rows = rows.reshape(B, L, n)                                  # (B, L, n): P[x0_i, .]
    denom = _at_tokens(rows, x_t)[:, :, None]                     # (B, L, 1): P[x0_i, x_t_i]
    if (denom <= 0).any():
        b, i, _ = np.argwhere(denom <= 0)[0]
        raise ValueError(f"x_t[{b}, {i}] = {x_t[b, i]} cannot be reached from x0[{b}, {i}] = "
                         f"{x0[b, i]} at sigma_bar = {sb[b]:g} (transition probability 0)")
    ratio = rows / denom                                          # (B, L, n)
    weight = graph.Q_in.take(x_t, axis=0)                         # (B, L, n): Q[y, x_t_i]
    return ratio, weight


def dse_loss(graph, log_s, x_t, x0, sigma_bar, transition=None):
    """Denoising score entropy per sequence (not yet multiplied by sigma(t)).

    loss[b] = sum_i sum_{y != x_t_i} Q[y, x_t_i] * l_SE(log_s[b, i, y]; P[x0_i, y] / P[x0_i, x_t_i])
    log_s: (B, L, n); x_t, x0: int (B, L); sigma_bar: (B,); transition: the kernels P (B, n, n)
    of sigma_bar when the caller has them already (None: computed here).
    Returns (loss (B,), dloss/dlog_s (B, L, n)), the gradient 0 wherever the weight is 0.
    The loss is computed in float64; the gradient has the dtype of log_s (float32 or float64).
    """
    given = log_s.dtype if isinstance(log_s, np.ndarray) else np.float64
    z = check_real_array("log_s", log_s, allow_neg_inf=True)
    ratio, weight = dse_targets(graph, x_t, x0, sigma_bar, transition)
    return _dse_from_targets(z, ratio, weight, given)


def _dse_loss(graph, log_s, x_t, x0, P, sb, with_grad=True):
    """dse_loss without the checks of its inputs: train's inner loop and the bound (nelbo),
    which made x_t, x0, sb and the kernels P themselves, and whose log_s comes from the model
    (checked after). with_grad=False: (loss, None), for a bound that needs no gradient."""
    ratio, weight = _dse_targets(graph, x_t, x0, P, sb)
    return _dse_from_targets(log_s.astype(np.float64, copy=False), ratio, weight, log_s.dtype,
                             with_grad)


def _dse_from_targets(z, ratio, weight, given, with_grad=True):
    """The loss per sequence (float64) and the gradient, float32 if the log-scores were given
    in float32, else float64 (None with with_grad=False)."""
    if z.shape != ratio.shape:
        raise ValueError(f"log_s must have shape (B, L, n) = {ratio.shape}, got {z.shape}")
    loss, grad = se_terms(z, ratio, weight, with_grad)            # (B, L, n) each
    if grad is None:
        return loss.sum(axis=(1, 2)), None
    dtype = np.float32 if given == np.float32 else np.float64
    return loss.sum(axis=(1, 2)), grad.astype(dtype, copy=False)
