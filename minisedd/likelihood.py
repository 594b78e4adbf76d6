"""The likelihood bound: -log p(x0) <= L(x0) + prior term (MATH.md section 6).

Written in sigma_bar (dt sigma(t) = d sigma_bar), the diffusion-weighted DSE is

    L(x0) = int E_{x ~ P[x0, .]} sum_i sum_{y != x_i} Q[y, x_i] l_SE(log_s[i, y]; r_y) d sigma_bar

so it depends on the schedule only through the range of sigma_bar it covers, which starts
at sigma_bar = 0. We integrate over the jump probability m = 1 - e^{-sigma_bar} in [0, m_end]
(d sigma_bar = dm / (1 - m)):

- absorbing graph: m_end = 1 (full masking) and no prior term;
- any other graph: m_end = 1 - e^{-sigma_bar(1)}, plus KL(P_1[x0, .] || limit) per position.

"exact" uses composite Gauss-Legendre quadrature in m and enumerates every x_t reachable
from x0; "mc" draws m uniformly and one x_t per draw and returns a standard error too.
With the exact score the bound is tight: it equals -log p_data(x0).
"""
import itertools

import numpy as np
from scipy.special import xlogy

from .checks import (check_choice, check_float, check_int, check_log_scores, check_noise, check_rng,
                     check_score_fields, check_tokens)
from .exact import unique_rows
from .losses import dse_loss
from .score import check_score

# panel edges in m for the quadrature: dense near m = 0, where small sigma_bar lives
PANELS = (0.0, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.6, 0.9, 0.99, 1.0)
CHUNK = 8192


def _m_end(graph, noise):
    """Upper end of the integral in m, and whether a prior term is needed."""
    if graph.kind == "absorbing":
        return 1.0, False
    if graph.limit is None:
        raise ValueError("the likelihood bound needs a graph with a unique limit distribution")
    return float(-np.expm1(-noise.total(1.0))), True


def prior_kl(graph, x0, sigma_bar):
    """sum_i KL(P[x0_i, .] || limit) per sequence (B,): the prior term of the bound."""
    P = np.maximum(graph._kernel(sigma_bar), 0.0)                 # (n, n)
    rows = P[x0]                                                  # (B, L, n)
    with np.errstate(divide="ignore"):
        kl = xlogy(rows, rows) - xlogy(rows, graph.limit)          # 0 log 0 = 0
    return kl.sum(axis=(1, 2))


def quadrature(m_end, nodes):
    """Composite Gauss-Legendre nodes and weights on [0, m_end], `nodes` per panel."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = [e for e in PANELS if e < m_end] + [m_end]
    ms, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        ms.append(a + (b - a) * (x + 1) / 2)
        ws.append(w * (b - a) / 2)
    return np.concatenate(ms), np.concatenate(ws)


def _reachable_states(graph, x0, max_states):
    """Every x_t reachable from each row of x0.

    Returns (states (U, L) distinct noisy sequences, pair_state (S,), pair_owner (S,)): pair s
    is the noisy sequence states[pair_state[s]] of the clean row x0[pair_owner[s]].
    """
    reach = [np.flatnonzero(row) for row in graph._kernel(1.0) > 1e-15]  # tokens reachable from v
    counts = [int(np.prod([len(reach[v]) for v in row])) for row in x0]
    if sum(counts) > max_states:
        raise ValueError(f"method='exact' would enumerate {sum(counts)} noisy sequences (more than "
                         f"max_states={max_states}); use method='mc' for this x0")
    pairs = np.concatenate([np.array(list(itertools.product(*[reach[v] for v in row])))
                            for row in x0])
    states, pair_state = unique_rows(pairs, graph.n)
    return states, pair_state, np.repeat(np.arange(len(x0)), counts)


def expected_dse(score, x0, sigma_bar, max_states=300_000):
    """E_{x_t ~ P[x0, .]} dse(x_t) per sequence (B,) at one noise level, by enumeration.

    This is the integrand of the bound in sigma_bar (before the factor d sigma_bar / dm).
    """
    check_score_fields("score", check_score(score))
    x0 = check_tokens("x0", x0, score.graph.data_tokens, ndim=2)
    if x0.shape[1] != score.length:
        raise ValueError(f"x0 must have shape (B, {score.length}) for this score, got {x0.shape}")
    enumeration = _reachable_states(score.graph, x0, check_int("max_states", max_states, low=1))
    return _expected_dse(score, x0, check_float("sigma_bar", sigma_bar, low=0.0), *enumeration)


def _log_scores(score, x, sb):
    """score.log_score over many rows, CHUNK rows at a time."""
    return np.concatenate([_checked_log_score(score, x[c:c + CHUNK],
                                              np.full(len(x[c:c + CHUNK]), sb))
                           for c in range(0, len(x), CHUNK)])


def _checked_log_score(score, x_t, sb):
    """score.log_score(x_t (B, L), sb (B,)), checked to be (B, L, n) and free of NaN."""
    log_s = score.log_score(x_t, sb)
    return check_log_scores("score.log_score", log_s, x_t.shape + (score.graph.n,))


def _expected_dse(score, x0, sb, states, pair_state, pair_owner):
    graph = score.graph
    P = np.maximum(graph._kernel(sb), 0.0)                        # (n, n)
    log_s = _log_scores(score, states, sb)                        # (U, L, n), once per state
    out = np.zeros(x0.shape[0])
    for c in range(0, pair_state.size, CHUNK):
        idx, rows = pair_state[c:c + CHUNK], pair_owner[c:c + CHUNK]
        x_t, x_0 = states[idx], x0[rows]                          # (S, L) each
        prob = P[x_0, x_t].prod(axis=1)                           # (S,): P(x_t | x0)
        live = prob > 0
        loss, _ = dse_loss(graph, log_s[idx[live]], x_t[live], x_0[live], np.full(live.sum(), sb))
        out += np.bincount(rows[live], weights=prob[live] * loss, minlength=x0.shape[0])
    return out


def nelbo(score, noise, x0, method="exact", nodes=8, num_samples=256, rng=None,
          max_states=300_000):
    """Negative ELBO in nats per sequence, an upper bound on -log p_score(x0).

    score: any score; noise: its schedule (sets sigma_bar(1) for non-absorbing graphs);
    x0: int (B, L) clean sequences; method: "exact" or "mc".
    exact: `nodes` Gauss-Legendre nodes per panel -> (B,).
    mc: `num_samples` draws per sequence, rng -> (estimate (B,), standard error (B,)).
    """
    check_score_fields("score", check_score(score))
    check_noise("noise", noise)
    graph = score.graph
    method = check_choice("method", method, ("exact", "mc"))
    x0 = check_tokens("x0", x0, graph.data_tokens, ndim=2)
    if x0.shape[1] != score.length:
        raise ValueError(f"x0 must have shape (B, {score.length}) for this score, got {x0.shape}")
    m_end, has_prior = _m_end(graph, noise)
    prior = prior_kl(graph, x0, -np.log1p(-m_end)) if has_prior else np.zeros(x0.shape[0])

    if method == "exact":
        nodes = check_int("nodes", nodes, low=1)
        enumeration = _reachable_states(graph, x0, check_int("max_states", max_states, low=1))
        total = np.zeros(x0.shape[0])
        for m, w in zip(*quadrature(m_end, nodes)):
            sb = -np.log1p(-m)                                    # sigma_bar at this node
            total += w / (1.0 - m) * _expected_dse(score, x0, sb, *enumeration)
        return total + prior

    num_samples = check_int("num_samples", num_samples, low=2)
    rng = check_rng("rng", rng)
    B, K = x0.shape[0], num_samples
    m = m_end * (1.0 - rng.random((B, K)))                        # m in (0, m_end]
    m = np.minimum(m, 1.0 - 1e-12)                                # keep sigma_bar finite
    sb = -np.log1p(-m)                                            # (B, K)
    x_0 = np.repeat(x0, K, axis=0)                                # (B*K, L)
    x_t = graph.sample_transition(x_0, sb.reshape(-1), rng)
    values = np.empty(B * K)
    for c in range(0, B * K, CHUNK):
        part = slice(c, c + CHUNK)
        sbs = sb.reshape(-1)[part]
        log_s = _checked_log_score(score, x_t[part], sbs)
        values[part] = dse_loss(graph, log_s, x_t[part], x_0[part], sbs)[0]
    values = values.reshape(B, K) * m_end / (1.0 - m)             # importance weight of m ~ U
    return values.mean(axis=1) + prior, values.std(axis=1, ddof=1) / np.sqrt(K)
