"""The likelihood bound: -log p(x0) <= L(x0) + prior term (lesson 04; the paper's NELBO).

Written in sigma_bar (dt sigma(t) = d sigma_bar), the diffusion-weighted DSE is

    L(x0) = int E_{x ~ P[x0, .]} sum_i sum_{y != x_i} Q[y, x_i] l_SE(log_s[i, y]; r_y) d sigma_bar

so it depends on the schedule only through the range of sigma_bar it covers, which starts
at sigma_bar = 0 and ends at sigma_bar_end:

- a graph whose limit is an absorbing state (Absorbing: all mask) reaches it only as
  sigma_bar -> infinity; we integrate to full masking (m = 1; for a slowly decaying graph to
  sigma_bar_end = 40 / lambda, where e^{-40} of the mass is left) and there is no prior term;
- any other graph: sigma_bar_end = sigma_bar(1), plus KL(P_1[x0, .] || limit) per position.

"exact" uses composite Gauss-Legendre quadrature and enumerates every x_t reachable from x0.
The variable is the jump probability m = 1 - e^{-sigma_bar} (d sigma_bar = dm / (1 - m)),
with panels dense near 0 where small sigma_bar lives; for a graph that decays slower than
Uniform and Absorbing (lambda = graph.spectral_gap < 1, the slowest decay rate of Q), the
panels in m stop at 0.99 and the rest is integrated in log sigma_bar (see quadrature). "mc"
draws m uniformly and one x_t per draw. Its variance is finite at the m -> 1 end for
lambda > 1/2, but not at the m -> 0 end for a score whose DSE grows like 1 / m when one token
has moved, as our networks' do: a draw that moves one token has probability about L m and
value about 1 / m, so the mean of its square grows like the log of the smallest m drawn. Its
printed error then understates (and grows, slowly, with the draws). "mc_masks" (Absorbing
only) draws how many positions are masked, which ones, and then m given that count (see
_mc_masks_values; lesson 10 derives it): the same bound, with a smaller error that the
printed one describes. All return (bound, standard error); the error of "exact" is 0.
With the exact score the bound is tight when P_end[x0, .] has reached the limit: it equals
-log p_data(x0).
"""
import itertools

import numpy as np
from scipy.special import betaincinv, xlogy

from .checks import (check_choice, check_float, check_int, check_log_scores, check_noise, check_rng,
                     check_tokens)
from .exact import unique_rows
from .losses import _dse_loss
from .sampling import _check_absorbing, _write_in_random_order
from .score import check_score
from .threads import computing

# panel edges in m = 1 - e^{-sigma_bar} up to 0.99: dense near m = 0, where small sigma_bar lives
PANELS_M = (0.0, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.6, 0.9, 0.99)
CHUNK = 8192


def absorbs(graph):
    """True when the graph's limit is a single absorbing state (a row of Q that is all 0)."""
    if graph.limit is None:
        return False
    a = int(np.argmax(graph.limit))
    return graph.limit[a] == 1.0 and not np.any(graph.Q[a])


def integration_end(graph, noise):
    """sigma_bar_end of the bound, and whether the prior term KL(P_end || limit) is added."""
    if graph.limit is None:
        raise ValueError("the likelihood bound needs a graph with a unique limit distribution")
    if absorbs(graph):   # to full masking; e^{-40} of the mass is left where the gap is < 1
        gap = graph.spectral_gap
        return (np.inf if gap >= 1.0 - 1e-9 else 40.0 / gap), False
    return float(noise.total(1.0)), True


def prior_kl(graph, x0, sigma_bar):
    """sum_i KL(P[x0_i, .] || limit) per sequence (B,): the prior term of the bound."""
    P = graph._transition(sigma_bar)                              # (n, n)
    rows = P[x0]                                                  # (B, L, n)
    with np.errstate(divide="ignore"):
        kl = xlogy(rows, rows) - xlogy(rows, graph.limit)          # 0 log 0 = 0
    return kl.sum(axis=(1, 2))


def quadrature(sb_end, nodes, spectral_gap=1.0):
    """Composite Gauss-Legendre on sigma_bar in [0, sb_end], `nodes` per panel.

    Returns (sigma_bar nodes, weights) with sum w f(sb) ~ int_0^sb_end f d sigma_bar (sb_end may
    be inf). Panels are in m = 1 - e^{-sb}, dense near m = 0. Near m = 1 the integrand in m
    behaves like (1 - m)^(spectral_gap - 1): smooth for a gap >= 1 (Uniform, Absorbing;
    polynomial in m for an exact absorbing score), singular below. For a gap < 1 the panels in
    m stop at m = 0.99 and continue in log sb, doubling sb from panel to panel, where it is smooth.
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    m_end = -np.expm1(-sb_end)
    last = m_end if spectral_gap >= 1.0 - 1e-9 else min(m_end, PANELS_M[-1])
    edges = [e for e in PANELS_M if e < last] + [last]
    sbs, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        m = a + (b - a) * (x + 1) / 2
        sbs.append(-np.log1p(-m))                                 # sigma_bar at the node
        ws.append(w * (b - a) / 2 / (1.0 - m))                    # d sigma_bar = dm / (1 - m)
    lo = -np.log1p(-last) if last < 1.0 else np.inf            # sigma_bar where m-panels stop
    while lo < sb_end:
        hi = min(2.0 * lo, sb_end)
        log_sb = np.log(lo) + (np.log(hi) - np.log(lo)) * (x + 1) / 2
        sbs.append(np.exp(log_sb))
        ws.append(w * (np.log(hi) - np.log(lo)) / 2 * np.exp(log_sb))   # d sigma_bar = sb d log sb
        lo = hi
    return np.concatenate(sbs), np.concatenate(ws)


def _check_x0(score, x0):
    """x0 as an int (B, L) array of clean tokens for `score`, or a clear error naming x0."""
    x0 = check_tokens("x0", x0, score.graph.n_clean, ndim=2)
    if x0.shape[1] != score.length:
        raise ValueError(f"x0 must have shape (B, {score.length}) for this score, got {x0.shape}")
    if x0.shape[0] == 0:
        raise ValueError("x0 must hold at least one sequence, got an empty array")
    return x0


def noisy_row_counts(graph, x0):
    """How many noisy rows x_t each clean row of x0 (B, L) can become: the product over its
    positions of the tokens reachable from each (2 on the absorbing graph: the token or the
    mask; n on the uniform one). method="exact" sums over all of them. A list of B ints."""
    sizes = graph.reachable.sum(axis=1)                           # (n,) tokens reachable from v
    return [int(np.prod([int(sizes[v]) for v in row])) for row in x0]


def _reachable_states(graph, x0, max_states):
    """Every x_t reachable from each row of x0.

    Returns (states (U, L) distinct noisy sequences, pair_state (S,), pair_owner (S,)): pair p
    is the noisy sequence states[pair_state[p]] of the clean row x0[pair_owner[p]].
    """
    reach = [np.flatnonzero(row) for row in graph.reachable]      # tokens reachable from v
    counts = noisy_row_counts(graph, x0)
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
    check_score(score)
    x0 = _check_x0(score, x0)
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
    P = graph._transition(sb)                                     # (n, n)
    log_s = _log_scores(score, states, sb)                        # (U, L, n), once per state
    out = np.zeros(x0.shape[0])
    for c in range(0, pair_state.size, CHUNK):
        idx, rows = pair_state[c:c + CHUNK], pair_owner[c:c + CHUNK]
        x_t, x0_rows = states[idx], x0[rows]                      # (S, L) each
        prob = P[x0_rows, x_t].prod(axis=1)                       # (S,): P(x_t | x0)
        live = prob > 0
        S = int(live.sum())                                       # the kernel, once per row
        loss, _ = _dse_loss(graph, log_s[idx[live]], x_t[live], x0_rows[live],
                            np.broadcast_to(P, (S,) + P.shape), np.full(S, sb), with_grad=False)
        out += np.bincount(rows[live], weights=prob[live] * loss, minlength=x0.shape[0])
    return out


def nelbo(score, noise, x0, method="exact", nodes=8, num_samples=256, rng=None,
          max_states=300_000):
    """Negative ELBO in nats per sequence, an upper bound on -log p_score(x0).

    score: any score; noise: its schedule (sets sigma_bar(1) for non-absorbing graphs);
    x0: int (B, L) clean sequences; method: "exact", "mc" or "mc_masks".
    exact: `nodes` Gauss-Legendre nodes per panel; mc: `num_samples` draws per sequence from
    rng (None: fresh entropy, an int seed, or a np.random.Generator), each a level m and a
    noisy row; mc_masks (Absorbing only): `num_samples` draws per sequence, each a number of
    masked positions k ~ U{1..L}, the k positions, and m given k (lesson 10): the same
    expectation, and for a trained model a smaller standard error (lesson 10 measures it).
    Returns (bound (B,), standard error (B,)); the error is 0 for "exact".
    BLAS runs on blas_threads() threads (1 unless MINISEDD_THREADS says).
    """
    with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
        return _nelbo(score, noise, x0, method, nodes, num_samples, rng, max_states)


def _nelbo(score, noise, x0, method, nodes, num_samples, rng, max_states):
    """nelbo inside computing() (threads.py)."""
    check_score(score)
    check_noise("noise", noise)
    graph = score.graph
    method = check_choice("method", method, ("exact", "mc", "mc_masks"))
    rng = check_rng("rng", rng)                  # checked for every method, used by mc ones
    x0 = _check_x0(score, x0)
    sb_end, has_prior = integration_end(graph, noise)
    prior = prior_kl(graph, x0, sb_end) if has_prior else np.zeros(x0.shape[0])

    if method == "exact":
        nodes = check_int("nodes", nodes, low=1)
        enumeration = _reachable_states(graph, x0, check_int("max_states", max_states, low=1))
        total = np.zeros(x0.shape[0])
        for sb, w in zip(*quadrature(sb_end, nodes, graph.spectral_gap)):
            total += w * _expected_dse(score, x0, sb, *enumeration)
        return total + prior, np.zeros(x0.shape[0])

    num_samples = check_int("num_samples", num_samples, low=2)
    if method == "mc_masks":
        if graph.kind != "absorbing":
            raise ValueError(f"method='mc_masks' draws which positions are masked, so it needs the "
                             f"absorbing graph (an Absorbing); this score's graph is "
                             f"{graph.kind!r}: use method='mc'")
        values = _mc_masks_values(score, x0, num_samples, rng)   # absorbing: sb_end = inf
        return values.mean(axis=1) + prior, values.std(axis=1, ddof=1) / np.sqrt(num_samples)
    if graph.spectral_gap <= 0.5:
        raise ValueError(f"method='mc' draws m = 1 - e^(-sigma_bar) uniformly, which has infinite "
                         f"variance for this graph (spectral gap {graph.spectral_gap:.3g} <= 1/2); "
                         f"use method='exact'")
    m_end = -np.expm1(-sb_end)
    B, S = x0.shape[0], num_samples
    m = m_end * (1.0 - rng.random((B, S)))                        # m in (0, m_end]
    m = np.minimum(m, 1.0 - 1e-12)                                # keep sigma_bar finite
    sb = -np.log1p(-m)                                            # (B, S)
    x0_rows = np.repeat(x0, S, axis=0)                            # (B*S, L)
    x_t = graph.sample_transition(x0_rows, sb.reshape(-1), rng)
    values = _dse_values(score, x_t, x0_rows, sb.reshape(-1))
    values = values.reshape(B, S) * m_end / (1.0 - m)             # importance weight of m ~ U
    return values.mean(axis=1) + prior, values.std(axis=1, ddof=1) / np.sqrt(S)


def _dse_values(score, x_t, x0_rows, sb):
    """DSE of each noisy row x_t (N, L) against its clean row, at its level sb (N,)."""
    values = np.empty(len(sb))
    for c in range(0, len(sb), CHUNK):
        part = slice(c, c + CHUNK)
        log_s = _checked_log_score(score, x_t[part], sb[part])
        values[part] = _dse_loss(score.graph, log_s, x_t[part], x0_rows[part],
                                 score.graph._transition(sb[part]), sb[part], with_grad=False)[0]
    return values


def _mc_masks_values(score, x0, S, rng):
    """S unbiased estimates per row (B, S) of the absorbing bound's integral, by mask count.

    On the absorbing graph each position is masked independently with probability
    m = 1 - e^{-sigma_bar}, and a row with no mask has loss 0 (DSE has terms at masked
    positions only). With d sigma_bar = dm / (1 - m), and the bound integrated to full
    masking (m = 1), the integral is a sum over masked sets M (|M| = k >= 1) of
        int_0^1 m^k (1 - m)^(L-k-1) DSE(M, m) dm.
    Draw k ~ U{1..L}, M uniform among the C(L, k) sets, m ~ Beta(k, L-k+1) (the k-th smallest
    of L uniform numbers), and weigh DSE by (integrand) / (density) = (L / k) m / (1 - m),
    using C(L, k) B(k, L-k+1) = 1 / k. For our posterior-map scores a masked position's DSE
    is (1 - m) / m times -log pi(x0_i), so the weighted value is L / k times the sum of
    -log pi over M: m enters only through the network's input (with m ~ U the weight is
    1 / (1 - m), and DSE ~ 1 / m at small m).
    """
    B, L = x0.shape
    k = rng.integers(1, L + 1, size=(B, S))                         # masked positions per draw
    m = betaincinv(k.astype(np.float64), (L + 1 - k).astype(np.float64),
                   1.0 - rng.random((B, S)))                      # m | k ~ Beta(k, L-k+1)
    m = np.minimum(m, 1.0 - 1e-12)                                # keep sigma_bar finite
    x0_rows = np.repeat(x0, S, axis=0)                            # (B*S, L)
    order = rng.random((B * S, L)).argsort(axis=1)                # a random order of positions
    masked = np.zeros((B * S, L), dtype=bool)
    np.put_along_axis(masked, order, np.arange(L)[None, :] < k.reshape(-1, 1), axis=1)
    x_t = np.where(masked, score.graph.mask_id, x0_rows)          # the first k of the order
    values = _dse_values(score, x_t, x0_rows, -np.log1p(-m).reshape(-1)).reshape(B, S)
    return values * (L / k) * m / (1.0 - m)


def order_bound(score, noise, x0, orders=32, rng=None):
    """An upper bound on -log p_score(x0), tighter than the NELBO, for a posterior-map score on
    the absorbing graph: importance weighting over writing orders (lesson 10, section 9).

    In the limit of many steps the reverse process writes the L positions one at a time, in a
    uniformly random order and at random moments, both drawn independently of the tokens
    (sample_in_random_order). So the model's probability of x0 is an average over those
    orders-and-moments o: p(x0) = E_o[q_o(x0)], q_o(x0) the probability of writing x0 along o.
    With K = `orders` draws of o, -log((1/K) sum_j q_oj(x0)) is at least -log p(x0) on
    average (Jensen's inequality), and its average can only fall as K grows (Burda, Grosse and
    Salakhutdinov, 2016: importance-weighted bounds). At K = 1 it is the average of
    -log q_o(x0), which is the NELBO: the moment at which k positions are still masked has the
    distribution Beta(k, L-k+1) that nelbo's "mc_masks" draws (tests/test_likelihood.py checks
    the equality). The one difference: the sampler starts at the mask fraction
    1 - e^{-noise.total(1)} (0.999 for LogLinear(1e-3)), the NELBO's process at 1.
    "Posterior-map": the scores at a masked position are pi(y) / expm1(sigma_bar) with pi
    summing to 1 (ScoreMLP, ScoreTransformer, ExactScore); for another score this bounds the
    sampler that renormalizes them.
    score: such a score on an Absorbing graph; noise: its schedule; x0: int (B, L) clean
    sequences; orders: K >= 2 (the error needs two); rng: None (fresh entropy), an int seed or
    a np.random.Generator.
    Returns (bound (B,), standard error (B,)) in nats per sequence. The error is the delta
    method's for the log of a mean of K weights, sd(w) / (sqrt(K) mean(w)): the Monte Carlo
    spread, not the bias (the bound's excess over -log p(x0)), and rough for a small K. A row
    that none of its K orders can write gets bound and error inf.
    BLAS runs on blas_threads() threads (1 unless MINISEDD_THREADS says).
    """
    check_score(score)
    check_noise("noise", noise)
    _check_absorbing(score)
    x0 = _check_x0(score, x0)
    orders = check_int("orders", orders, low=2)
    rng = check_rng("rng", rng)
    B = x0.shape[0]
    bound, stderr = np.zeros(B), np.zeros(B)
    chunk = max(1, 4096 // orders)                       # rows per call: chunk * orders <= 4096
    with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
        for start in range(0, B, chunk):
            rows = x0[start:start + chunk]
            _, nats = _write_in_random_order(score, noise, len(rows) * orders, rng,
                                             rows=np.repeat(rows, orders, axis=0))
            nats = nats.reshape(len(rows), orders)           # -log q_oj(x0), (rows, K)
            low = nats.min(axis=1, keepdims=True)
            never = ~np.isfinite(low[:, 0])                  # no drawn order writes the row
            low[never] = 0.0
            w = np.exp(low - nats)                           # q_oj / max_j q_oj, in (0, 1]
            mean = w.mean(axis=1)
            mean[never] = 1.0
            b = low[:, 0] - np.log(mean)
            e = w.std(axis=1, ddof=1) / (np.sqrt(orders) * mean)
            b[never], e[never] = np.inf, np.inf
            bound[start:start + chunk], stderr[start:start + chunk] = b, e
    return bound, stderr
