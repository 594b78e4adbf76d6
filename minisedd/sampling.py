"""Samplers: run the reverse process from the graph's limit back to t ~ 0 (lesson 05).

Time goes from t = 1 down to t = t_end in `steps` equal steps; every position is updated
independently at each step, from the score of the current sequence. With
delta = sigma_bar(t) - sigma_bar(t - dt) and s = exp(log_s) (s[i, x_i] = 1):

- Euler:   p(y) = dt sigma(t) Q[y, x_i] s[i, y] for y != x_i, p(x_i) = 1 - sum (clipped, renormalized)
- Tweedie: p(y) proportional to (s expm(-delta Q))_y * expm(delta Q)[y, x_i]   (lesson 02;
  the paper's Tweedie tau-leaping)
- Denoise: a last Tweedie step with delta = sigma_bar(t_end), to zero noise; on the absorbing
  graph the mask token is dropped and the rest renormalized.

Conditioning (infilling): positions with a token in `condition` are held at that token
after every step; -1 marks a free position.

sample_in_random_order: on the absorbing graph, the limit of many steps, one position written at
a time in a random order (lesson 10, section 8).
"""
import numpy as np

from .checks import (check_choice, check_float, check_int, check_log_scores, check_noise,
                     check_real_array, check_rng, check_tokens)
from .exact import unique_rows
from .graphs import Graph, _draw
from .nn import sum_last, temper
from .score import check_score, check_score_input
from .threads import computing

METHODS = ("tweedie", "euler")


def _normalize(p):
    """Clip a (..., n) array of unnormalized probabilities at 0 and make each row sum to 1.

    A row with nothing left after clipping has no distribution to draw from: an error,
    rather than a silent draw of the last token.
    """
    p = np.maximum(p, 0.0)
    total = sum_last(p)
    if not np.isfinite(total).all() or (total <= 0).any():
        raise ValueError("a sampler step has no valid probabilities at some position (all zero, "
                         "or not finite after clipping): the score gives no way to move, or a "
                         "step covers so much noise that float64 keeps no digits of it (take "
                         "more steps; tweedie_probs explains the precision)")
    return p / total


def tweedie_probs(graph, s, x, delta):
    """Tweedie tau-leaping: p(y) propto (s expm(-delta Q))_y expm(delta Q)[y, x_i].

    s: (B, L, n) scores; x: int (B, L); delta > 0. Returns (B, L, n), rows summing to 1.
    With the exact score this is the exact reverse transition of one position.
    Precision: the entries of expm(-delta Q) grow like e^{delta |lambda|} (lambda the most
    negative eigenvalue of Q) and cancel in s expm(-delta Q); float64 keeps about
    16 - log10(e^{delta |lambda|}) digits. One step over Geometric(1e-4, 20) keeps ~7; a step
    with delta |lambda| of 37 or more (e.g. sigma_max = 50 in one step) keeps none: take more
    steps.
    """
    x, s = _check_step_input(graph, s, x)
    delta = check_float("delta", delta, low=0.0, low_open=True)
    return _tweedie_probs(graph, s, x, delta)


def euler_probs(graph, s, x, rate_dt):
    """Euler step: p(y) = rate_dt * Q[y, x_i] s[i, y] (y != x_i), p(x_i) = 1 - sum.

    rate_dt = sigma(t) dt >= 0. Returns (B, L, n), rows summing to 1.
    """
    x, s = _check_step_input(graph, s, x)
    rate_dt = check_float("rate_dt", rate_dt, low=0.0)
    return _euler_probs(graph, s, x, rate_dt)


def _check_step_input(graph, s, x):
    """(x int (B, L), s float64 (B, L, n) >= 0) for one step of either sampler, or a clear error."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a minisedd Graph (Uniform, Absorbing or Graph(Q)), "
                        f"got {type(graph).__name__}")
    x = check_tokens("x", x, graph.n, ndim=2)
    s = check_real_array("s", s, shape=x.shape + (graph.n,), low=0.0)
    return x, s


def _tweedie_probs(graph, s, x, delta):
    """tweedie_probs without the checks, for the samplers' inner loops."""
    back = graph._expm(-delta)                                   # expm(-delta Q), (n, n)
    fwd = graph._expm(delta)                                     # expm(delta Q), (n, n)
    p = (s @ back) * fwd.T[x]                                    # (B, L, n); fwd.T[x][.., y] = fwd[y, x]
    return _normalize(p)


def _euler_probs(graph, s, x, rate_dt):
    """euler_probs without the checks, for the samplers' inner loops."""
    p = rate_dt * graph.Q_in[x] * s                              # (B, L, n); Q_in[x, y] = Q[y, x]
    stay = 1.0 - sum_last(p)[:, :, 0]                            # (B, L)
    np.put_along_axis(p, x[:, :, None], stay[:, :, None], axis=2)
    return _normalize(p)


def _scores(score, x, sb):
    """s = exp(log_s) (B, L, n), guarded against overflow (log_s <= 600, so that s expm(-delta Q)
    stays finite too).

    The score is evaluated once per distinct row of x: many samples share a state (all of
    them start all-mask on the absorbing graph), and the answer depends on the row alone.
    """
    rows, back = unique_rows(x, score.graph.n)
    log_s = score.log_score(rows, np.full(rows.shape[0], sb))
    log_s = check_log_scores("score.log_score", log_s, rows.shape + (score.graph.n,))
    return np.exp(np.minimum(log_s, 600.0))[back]


def denoise_probs(score, x_t, sigma_bar):
    """The Tweedie denoiser: p(x0_i = y | x_t) per position, (B, L, n).

    One Tweedie step with delta = sigma_bar, all the way to zero noise. On the absorbing
    graph the mask token gets probability 0. x_t: int (B, L); sigma_bar: a float > 0.
    """
    check_score(score)
    sb = check_float("sigma_bar", sigma_bar, low=0.0, low_open=True)
    x_t, _ = check_score_input(score, x_t, sb)
    p = _tweedie_probs(score.graph, _scores(score, x_t, sb), x_t, sb)
    p[..., score.graph.n_clean:] = 0.0                           # only clean tokens remain
    return _normalize(p)


def _check_condition(condition, num_samples, length, graph):
    if condition is None:
        return None
    c = np.asarray(condition)
    if c.dtype == bool or not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"condition must be an integer array (token ids, -1 for free), "
                        f"got dtype {c.dtype}")
    if c.size and (c.min() < -1 or c.max() >= graph.n_clean):
        raise ValueError(f"condition must hold clean token ids in [0, {graph.n_clean}) or -1 "
                         f"for a free position, got values from {c.min()} to {c.max()}")
    c = c.astype(np.int64)
    if c.shape == (length,):
        c = np.broadcast_to(c, (num_samples, length))
    if c.shape != (num_samples, length):
        raise ValueError(f"condition must have shape ({length},) or ({num_samples}, {length}) "
                         f"with -1 at free positions, got {c.shape}")
    return c


def _clamp(x, condition):
    return x if condition is None else np.where(condition >= 0, condition, x)


def sample(score, noise, num_samples, steps=64, method="tweedie", rng=None, condition=None,
           t_end=1e-5):
    """Draw sequences by running the reverse process with `score`.

    score: any object with .graph, .length, .log_score; noise: a schedule (Geometric, LogLinear).
    num_samples: N; steps: reverse steps from t = 1 to t = t_end (then one denoising step);
    method: "tweedie" or "euler"; rng: None (fresh entropy), an int seed or a
    np.random.Generator; condition: int (L,) or (N, L), a token at held positions and -1 at
    free ones; t_end: in (0, 0.5], the time where the reverse steps stop.
    Returns int (N, L) of clean tokens.
    """
    check_score(score)
    check_noise("noise", noise)
    graph, L = score.graph, score.length
    num_samples = check_int("num_samples", num_samples, low=1)
    steps = check_int("steps", steps, low=1)
    method = check_choice("method", method, METHODS)
    rng = check_rng("rng", rng)
    t_end = check_float("t_end", t_end, low=0.0, low_open=True, high=0.5)
    condition = _check_condition(condition, num_samples, L, graph)

    t = np.linspace(1.0, t_end, steps + 1)                       # t_0 = 1 > ... > t_steps = t_end
    sb = noise.total(t)                                          # sigma_bar at each time
    x = _clamp(graph.sample_limit((num_samples, L), rng), condition)   # (N, L)
    with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
        for k in range(steps):
            s = _scores(score, x, sb[k])                         # (N, L, n)
            if method == "tweedie":
                p = _tweedie_probs(graph, s, x, sb[k] - sb[k + 1])
            else:
                p = _euler_probs(graph, s, x, float(noise.rate(t[k])) * (t[k] - t[k + 1]))
            x = _clamp(_draw(p, rng), condition)
        p = denoise_probs(score, x, sb[-1])                      # the last step: to zero noise
    return _clamp(_draw(p, rng), condition)


def argmax_ties_low(probs, tol=1e-12):
    """The most probable index of each row of probs (..., n), ties broken toward the lowest id.

    Entries within `tol` of the row's maximum count as tied (two routes to the same
    probability can differ in the last bits, and which one wins would then depend on
    rounding, the BLAS library or the thread count); the lowest tied index is returned.
    Returns int (...,).
    """
    probs = np.asarray(probs)
    if probs.dtype == bool or not (np.issubdtype(probs.dtype, np.floating)
                                   or np.issubdtype(probs.dtype, np.integer)):
        raise TypeError(f"probs must be a real array, got dtype {probs.dtype}")
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise ValueError(f"probs must have a last axis of categories, got shape {probs.shape}")
    if np.isnan(probs).any():
        raise ValueError("probs must not contain NaN")
    tol = check_float("tol", tol, low=0.0)
    top = probs.max(axis=-1, keepdims=True)                      # (..., 1)
    return np.argmax(probs >= top - tol, axis=-1)                # the first True: the lowest id


def sample_in_random_order(score, noise, num_samples, rng=None, temperature=1.0):
    """The absorbing graph's reverse process in the limit of many steps (lesson 10, section 8):
    returns (x int (N, L) of clean tokens, nats (N,)).

    On the absorbing graph a masked position i jumps only to a clean token y, at the reverse
    rate sigma(t) s_i(y) = sigma(t) pi_i(y) / expm1(sigma_bar) (lesson 04's parameterization;
    the paper's reverse rates, eq. 3 with Q[y, mask] = 1). Summed over y it is
    sigma(t) / expm1(sigma_bar), the same at every masked position: the next position written
    is uniform among those still masked, and its token comes from pi_i given what is written,
    read at the moment of the jump. So the exact reverse process writes the L positions one at
    a time in a uniformly random writing order, each from the posterior: an autoregressive
    model in a random order. Zheng et al. (2024) call it the first-hitting sampler; many
    Tweedie steps approach it.

    The moments of the jumps, as mask fractions m = 1 - e^{-sigma_bar}: all positions start
    masked at m = 1 - e^{-noise.total(1)}; going back in time, each masked position stays masked
    down to level m' < m with probability m' / m, independently, so with k positions masked the
    next jump is at m u^{1/k} (u uniform on (0, 1), the largest of k such levels). The score is
    read there, as in the exact process; the true posterior on the absorbing graph does not
    depend on the level at all.
    nats[b] = -log q(x[b] | its writing order and levels): the exact negative log-probability of
    row b under the autoregressive model that wrote it. Its mean over rows estimates a lower
    bound on the entropy of the sampler, a mixture of these models (entropy is concave).
    score: any object with .graph (Absorbing), .length and .log_score; noise: its schedule;
    num_samples: N; rng: None (fresh entropy), an int seed or a np.random.Generator;
    temperature: each token is drawn from pi_i to the power 1/T, renormalized (nn.temper;
    below 1 the samples are less varied), and nats are those of this tempered model.
    """
    check_score(score)
    check_noise("noise", noise)
    _check_absorbing(score)
    num_samples = check_int("num_samples", num_samples, low=1)
    rng = check_rng("rng", rng)
    temperature = check_float("temperature", temperature, low=0.0, low_open=True)
    with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
        return _write_in_random_order(score, noise, num_samples, rng, temperature=temperature)


def _check_absorbing(score):
    if score.graph.kind != "absorbing":
        raise ValueError(f"score.graph must be an Absorbing graph (the random-order writing holds "
                         f"for it alone), got {score.graph!r}")


def _write_in_random_order(score, noise, num, rng, rows=None, temperature=1.0):
    """The loop of sample_in_random_order: each of `num` rows draws a writing order and the
    moments of its jumps, and writes its positions in that order. rows=None draws each token
    from the posterior (at the temperature); rows (num, L) of clean tokens writes those tokens
    instead (the probability of writing a given row along that order: order_bound,
    likelihood.py).
    Returns (x (num, L), nats (num,)), nats = -log q(x | order, moments)."""
    graph, L = score.graph, score.length
    index = np.arange(num)
    order = np.argsort(rng.random((num, L)), axis=1)              # (num, L): each row's own order
    x = np.full((num, L), graph.mask_id, dtype=np.int64)
    nats = np.zeros(num)
    m = np.full(num, -np.expm1(-float(noise.total(1.0))))        # the mask fraction at t = 1
    for j in range(L):
        masked = L - j
        m *= rng.random(num) ** (1.0 / masked)                    # the moment of the next jump
        log_s = score.log_score(x, -np.log1p(-m))                 # read at sigma_bar of that m
        log_s = check_log_scores("score.log_score", log_s, x.shape + (graph.n,))
        i = order[:, j]                                           # the position each row writes
        log_pi = log_s[index, i, :graph.n_clean].astype(np.float64)   # pi_i up to a constant
        top = log_pi.max(axis=1, keepdims=True)
        if not np.isfinite(top).all():
            raise ValueError("score.log_score gives no finite score to any clean token at a "
                             "masked position: there is no token to write there")
        log_pi -= top
        log_pi -= np.log(np.exp(log_pi).sum(axis=1, keepdims=True))   # normalized
        log_pi = temper(log_pi, temperature)
        v = _draw(np.exp(log_pi), rng) if rows is None else rows[index, i]   # (num,)
        nats -= log_pi[index, v]
        x[index, i] = v
    return x, nats
