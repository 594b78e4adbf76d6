"""The reverse-process samplers (minisedd/sampling.py; lesson 05).

Claims checked:
- the distribution a sampler produces, computed exactly by composing its per-step
  transition matrices over every sequence (no sampling noise):
  * with the exact score and one position, every Tweedie step is the exact reverse
    kernel, so the output is the data distribution at any number of steps (1e-7), as long
    as e^{delta |lambda|} (lambda the fastest eigenvalue of Q) stays well below 1e16;
    Euler is not, and its error falls as the steps grow;
  * with independent positions Tweedie is still exact at any number of steps;
  * with dependent positions the only error of Tweedie is the factorization across
    positions, first order in 1 / steps: twice the steps, about half the error;
  * on the absorbing graph with the log-linear schedule sigma(t) dt = expm1(delta), so
    Euler and Tweedie are the same step;
- sample() itself, with the exact score on the toy corpus (both graphs, both samplers),
  gives a total-variation distance to the data within the sampling noise of N draws;
- tokens stay in [0, n_clean) (never the mask) even for an untrained network, held
  positions keep their tokens, the same rng seed gives the same samples, others differ;
- denoise_probs rows sum to 1, put 0 on the mask, and equal p(x0_i = y | x_t) computed directly;
- sample_in_random_order (the absorbing reverse process in the limit of many steps): with the
  exact score every order writes the data distribution, so each row's nats are exactly
  -log p_data(row); with a network its output is the mixture over the L! orders computed by
  enumeration when its posteriors do not depend on the noise level (its frequencies within the
  sampling noise, each row's nats one of the values -log q_o(row), their mean the average
  entropy of the q_o), in float64 and float32; for a network whose posteriors do depend on the
  level, its output is the exact output distribution of 1,000 Tweedie steps, within the noise.
"""
import itertools

import numpy as np
import pytest
import scipy.linalg

from minisedd import (TOY_N_CLEAN, TOY_SENTENCES, Absorbing, ExactScore, Geometric, Graph,
                      LogLinear, ScoreMLP, denoise_probs, euler_probs, problem, sample,
                      sample_in_random_order, sample_tv, tweedie_probs)
from minisedd.sampling import _scores, argmax_ties_low
from helpers import LevelFree, order_probabilities, random_rate_matrix, sharp_network

SEQS = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 0, 0], [1, 1, 2]])   # dependent positions
PROBS = np.array([0.35, 0.25, 0.2, 0.12, 0.08])


def small_problem(kind, n_clean=3):
    """(graph, noise) with n_clean clean tokens: problem(kind, n_clean), or a random Graph(Q)."""
    if kind == "graph":
        return Graph(random_rate_matrix(np.random.default_rng(1), n_clean)), Geometric(1e-4, 20.0)
    return problem(kind, n_clean)


def output_distribution(score, noise, steps, method, t_end=1e-5):
    """The exact distribution of sample(score, noise, ., steps, method) over all n^L sequences.

    Follows sample(): the same time grid, the limit as the start, one step matrix per time
    (T[x, x'] = prod_i p_i(x'_i | x), positions updated independently), the final denoiser.
    Returns (states (S, L), probabilities (S,)).
    """
    graph, L = score.graph, score.length
    states = np.array(list(itertools.product(range(graph.n), repeat=L)))     # (S, L)
    t = np.linspace(1.0, t_end, steps + 1)
    sb = noise.total(t)

    def step_matrix(p):                                                     # p (S, L, n)
        T = np.ones((len(states), len(states)))
        for i in range(L):
            T *= p[:, i, states[:, i]]
        return T

    dist = np.prod(graph.limit[states], axis=1)                             # (S,)
    for k in range(steps):
        s = _scores(score, states, sb[k])
        if method == "tweedie":
            p = tweedie_probs(graph, s, states, sb[k] - sb[k + 1])
        else:
            p = euler_probs(graph, s, states, float(noise.rate(t[k])) * (t[k] - t[k + 1]))
        dist = dist @ step_matrix(p)
    return states, dist @ step_matrix(denoise_probs(score, states, sb[-1]))


def distance_to(states, dist, seqs, probs):
    """TV between dist over all states and probs over seqs (mass elsewhere counts fully)."""
    index = {tuple(r): k for k, r in enumerate(states)}
    on = dist[[index[tuple(r)] for r in seqs]]
    return 0.5 * (np.abs(on - probs).sum() + (1.0 - on.sum()))


# -- the exact output distribution of the samplers ---------------------------------------------
@pytest.mark.parametrize("kind, steps", [("uniform", 1), ("uniform", 4), ("absorbing", 1),
                                         ("absorbing", 4), ("graph", 64)])
def test_tweedie_is_exact_for_one_position(kind, steps):
    # (Graph(Q) needs small steps: s @ expm(-delta Q) grows like e^{delta |lambda|} with the
    # fastest eigenvalue |lambda| ~ 3.4 of this Q, and loses all digits once that is ~1e16.)
    graph, noise = small_problem(kind, n_clean=4)
    probs = np.random.default_rng(0).dirichlet(np.ones(4))
    exact = ExactScore(graph, np.arange(4)[:, None], probs)
    states, dist = output_distribution(exact, noise, steps, "tweedie")
    assert dist.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(dist[:4], probs, rtol=0, atol=1e-7)


@pytest.mark.parametrize("kind", ["uniform", "graph"])
def test_euler_for_one_position_converges_with_the_steps(kind):
    graph, noise = small_problem(kind, n_clean=4)
    probs = np.random.default_rng(0).dirichlet(np.ones(4))
    exact = ExactScore(graph, np.arange(4)[:, None], probs)
    errors = [np.abs(output_distribution(exact, noise, steps, "euler")[1][:4] - probs).max()
              for steps in (4, 16, 64)]
    assert errors[0] > 1e-2                                        # a real discretization error
    assert errors[1] < errors[0] / 2 and errors[2] < errors[1] / 2 and errors[2] < 1e-2


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_tweedie_is_exact_for_independent_positions(kind):
    graph, noise = small_problem(kind)
    a, b = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.6, 0.3])
    seqs = np.array(list(itertools.product(range(3), repeat=2)))
    probs = (a[:, None] * b[None, :]).ravel()
    exact = ExactScore(graph, seqs, probs)
    for steps in (2, 8):
        states, dist = output_distribution(exact, noise, steps, "tweedie")
        assert distance_to(states, dist, seqs, probs) < 1e-7


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_factorization_error_is_first_order_in_the_step(kind, method):
    graph, noise = small_problem(kind)
    exact = ExactScore(graph, SEQS, PROBS)
    tv = [distance_to(*output_distribution(exact, noise, steps, method), SEQS, PROBS)
          for steps in (16, 32, 64)]
    assert tv[0] > 0.01                                    # dependent positions: a real error
    assert 1.6 < tv[0] / tv[1] < 2.6 and 1.6 < tv[1] / tv[2] < 2.6      # ~2x per 2x steps
    assert tv[2] < 0.02


def test_euler_and_tweedie_are_the_same_step_on_absorbing_with_loglinear():
    """sigma(t) dt = expm1(sigma_bar(t) - sigma_bar(t - dt)) for LogLinear, and on the
    absorbing graph both samplers move a masked token to y with probability (that) * s_y."""
    graph, noise = Absorbing(5), LogLinear(1e-3)
    model = ScoreMLP(graph, 3, hidden=8, rng=1)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=(6, 3))
    for t, dt in [(1.0, 0.25), (0.5, 0.01), (0.01, 0.009)]:
        s = _scores(model, x, float(noise.total(t)))
        delta = float(noise.total(t) - noise.total(t - dt))
        a = tweedie_probs(graph, s, x, delta)
        b = euler_probs(graph, s, x, float(noise.rate(t)) * dt)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# -- sample() on the toy corpus ----------------------------------------------------------------
def expected_tv(probs, num):
    """Mean and standard deviation of the TV of num draws from probs (normal approximation).

    Each frequency error is ~ N(0, p (1 - p) / num), so E|f - p| = sqrt(2 / pi) sigma and
    E[TV] = sum sqrt(p (1 - p) / (2 pi num)); the sd of |Z| is sigma sqrt(1 - 2 / pi).
    """
    sigma = np.sqrt(probs * (1.0 - probs) / num)
    mean = 0.5 * np.sqrt(2.0 / np.pi) * sigma.sum()
    sd = 0.5 * np.sqrt(((1.0 - 2.0 / np.pi) * sigma ** 2).sum())
    return mean, sd


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_samples_of_the_exact_score_follow_the_data(kind, method):
    graph, noise = problem(kind, TOY_N_CLEAN)
    exact = ExactScore(graph, TOY_SENTENCES)
    num = 3000
    x = sample(exact, noise, num, steps=32, method=method, rng=np.random.default_rng(0))
    assert x.shape == (num, 4)
    probs = np.full(6, 1.0 / 6.0)
    mean, sd = expected_tv(probs, num)                    # about 0.016 and 0.005
    # (calibration: over 150 seeds, Euler's TV on the uniform graph had the mean and spread
    # of multinomial noise; mean + 4 sd is about its 99.9% point)
    tv = sample_tv(x, TOY_SENTENCES, probs)
    assert tv < mean + 4.0 * sd, f"TV {tv:.4f}, sampling noise {mean:.4f} +- {sd:.4f}"


# -- what a sampler returns --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["uniform", "absorbing", "graph"])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_tokens_stay_in_range_for_an_untrained_network(kind, method):
    graph, noise = small_problem(kind, n_clean=5)
    model = ScoreMLP(graph, 4, hidden=8, rng=3)
    x = sample(model, noise, 50, steps=8, method=method, rng=np.random.default_rng(0))
    assert x.shape == (50, 4) and np.issubdtype(x.dtype, np.integer)
    assert x.min() >= 0 and x.max() < graph.n_clean                    # never the mask


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_conditioned_positions_are_held(kind, method):
    graph, noise = problem(kind, TOY_N_CLEAN)
    exact = ExactScore(graph, TOY_SENTENCES)
    rng = np.random.default_rng(5)
    # one condition for every sample: "_ _ NLP _"
    x = sample(exact, noise, 200, steps=16, method=method, rng=rng,
               condition=np.array([-1, -1, 6, -1]))
    assert np.all(x[:, 2] == 6)
    assert (x[:, None, :] == TOY_SENTENCES[None]).all(axis=2).any(axis=1).all()   # in the corpus
    assert len(np.unique(x[:, 0])) == 3                   # the free subject still varies
    # one condition per sample
    cond = np.full((60, 4), -1)
    cond[:, 0] = rng.integers(1, 4, size=60)              # a subject per row
    cond[::2, 2] = 5                                      # every other row: "... AI ."
    x = sample(exact, noise, 60, steps=16, method=method, rng=rng, condition=cond)
    held = cond >= 0
    assert np.array_equal(x[held], cond[held])


@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_same_seed_same_samples_other_seed_other_samples(method):
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=8, rng=0)
    a = sample(model, noise, 40, steps=8, method=method, rng=np.random.default_rng(1))
    b = sample(model, noise, 40, steps=8, method=method, rng=np.random.default_rng(1))
    c = sample(model, noise, 40, steps=8, method=method, rng=np.random.default_rng(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# -- the denoiser ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["uniform", "absorbing", "graph"])
@pytest.mark.parametrize("sb", [1e-3, 0.4, 2.0])
def test_denoiser_is_the_exact_posterior_of_each_clean_token(kind, sb):
    """With the exact score, denoise_probs[b, i, y] = p(x0_i = y | x_t) (all of x_t)."""
    graph, _ = small_problem(kind)
    exact = ExactScore(graph, SEQS, PROBS)
    x = np.array(list(itertools.product(range(graph.n), repeat=3)))
    P = scipy.linalg.expm(sb * np.array(graph.Q))
    joint = PROBS[None, :] * np.prod(P[SEQS[None, :, :], x[:, None, :]], axis=2)   # (B, M)
    live = joint.sum(axis=1) > 0                            # x_t that can occur
    x, joint = x[live], joint[live]
    p = denoise_probs(exact, x, sb)                          # (B, 3, n)
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-12)
    assert p.min() >= 0.0
    for i in range(3):
        expected = np.stack([joint[:, SEQS[:, i] == y].sum(axis=1) for y in range(graph.n)], axis=1)
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(p[:, i, :], expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_denoiser_of_a_network_is_a_distribution_without_mask(kind):
    graph, _ = small_problem(kind, n_clean=5)
    model = ScoreMLP(graph, 3, hidden=8, rng=2)
    x = np.random.default_rng(1).integers(0, graph.n, size=(20, 3))
    for sb in (1e-5, 0.3, 5.0):
        p = denoise_probs(model, x, sb)
        assert p.min() >= 0.0
        np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-12)
        if kind == "absorbing":
            assert np.all(p[..., graph.mask_id] == 0.0)


def test_argmax_ties_low_breaks_near_ties_toward_the_lowest_id():
    probs = np.array([[0.2, 0.4, 0.4],                      # an exact tie: 1, not 2
                      [0.3, 0.35 + 1e-16, 0.35 - 1e-16],    # a tie up to rounding: 1
                      [0.5, 0.25, 0.25],
                      [0.1, 0.1, 0.8 - 1e-9]])              # a real difference wins
    np.testing.assert_array_equal(argmax_ties_low(probs), [1, 1, 0, 2])
    assert argmax_ties_low(probs[:, ::-1]).tolist() == [0, 0, 2, 0]
    assert argmax_ties_low(np.array([0.3, 0.3 + 1e-6]), tol=1e-5) == 0
    assert argmax_ties_low(np.array([0.3, 0.3 + 1e-6])) == 1
    assert argmax_ties_low(np.ones((2, 3, 4))).shape == (2, 3)
    with pytest.raises(ValueError, match="probs must not contain NaN"):
        argmax_ties_low(np.array([0.5, np.nan]))


# -- the many-step limit on the absorbing graph: writing in a random order ---------------------
def test_random_order_with_the_exact_score_writes_the_data():
    graph, noise = problem("absorbing", 3)
    exact = ExactScore(graph, SEQS, PROBS)
    num = 1000
    x, nats = sample_in_random_order(exact, noise, num, rng=0)
    index = {tuple(r): k for k, r in enumerate(SEQS)}
    k = np.array([index[tuple(r)] for r in x])            # KeyError if a row is not in SEQS
    # every order of the exact conditionals multiplies out to the joint
    np.testing.assert_allclose(nats, -np.log(PROBS[k]), rtol=0, atol=1e-12)
    mean, sd = expected_tv(PROBS, num)
    tv = 0.5 * np.abs(np.bincount(k, minlength=len(SEQS)) / num - PROBS).sum()
    assert tv < mean + 4.0 * sd, f"TV {tv:.4f}, sampling noise {mean:.4f} +- {sd:.4f}"


@pytest.mark.parametrize("dtype, temperature", [(np.float64, 1.0), (np.float32, 1.0),
                                                (np.float64, 0.5), (np.float64, 1.7)])
def test_random_order_is_the_mixture_over_writing_orders(dtype, temperature):
    # at a temperature T each token is drawn from pi^(1/T), renormalized: the mixture of the
    # orders' tempered models, and nats are those of the tempered model that wrote the row
    graph, noise = problem("absorbing", 3)
    L = 3
    score = LevelFree(sharp_network(graph, L, dtype), sigma_bar=0.7)
    states = np.array(list(itertools.product(range(graph.n_clean), repeat=L)))   # (27, L)
    q = order_probabilities(score, states, temperature)   # q_o(x) for every writing order o
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-12)
    assert np.ptp(q, axis=0).max() > 0.01                 # the orders do disagree
    mixture = q.mean(axis=0)                              # (27,)
    mean_entropy = -np.mean(np.sum(q * np.log(q), axis=1))

    num = 20000
    x, nats = sample_in_random_order(score, noise, num, rng=1, temperature=temperature)
    b = x @ (graph.n_clean ** np.arange(L)[::-1])         # row -> its index in states
    freq = np.bincount(b, minlength=len(states)) / num
    mean, sd = expected_tv(mixture, num)
    tv = 0.5 * np.abs(freq - mixture).sum()
    assert tv < mean + 4.0 * sd, f"TV {tv:.4f}, sampling noise {mean:.4f} +- {sd:.4f}"
    # each row's nats is -log q_o(row) for one of the orders
    gap = np.abs(nats[:, None] + np.log(q[:, b].T)).min(axis=1)
    # (float32: the network's products round differently for a batch of 1 and of 20,000)
    assert gap.max() < (1e-9 if dtype == np.float64 else 1e-5)
    se = nats.std() / np.sqrt(num)
    assert abs(nats.mean() - mean_entropy) < 4.0 * se, (nats.mean(), mean_entropy, se)
    # the bound: the average entropy of the orders is at most the mixture's entropy
    assert mean_entropy <= -np.sum(mixture * np.log(mixture)) + 1e-12


def test_random_order_is_the_limit_of_many_tweedie_steps():
    # a network whose posteriors do depend on the level: the jumps must be read at their moments
    graph, noise = problem("absorbing", 3)
    model = sharp_network(graph, 3)
    states, dist = output_distribution(model, noise, 1000, "tweedie")    # exact, no sampling
    clean = (states < graph.n_clean).all(axis=1)
    assert dist[~clean].sum() < 1e-12
    num = 20000
    x, _ = sample_in_random_order(model, noise, num, rng=2)
    index = {tuple(r): k for k, r in enumerate(states[clean])}
    freq = np.bincount([index[tuple(r)] for r in x], minlength=clean.sum()) / num
    target = dist[clean]
    mean, sd = expected_tv(target, num)
    tv = 0.5 * np.abs(freq - target).sum()
    assert tv < mean + 4.0 * sd, f"TV {tv:.4f}, sampling noise {mean:.4f} +- {sd:.4f}"


def test_random_order_same_seed_same_samples():
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=8, rng=0)
    a = sample_in_random_order(model, noise, 40, rng=np.random.default_rng(1))
    b = sample_in_random_order(model, noise, 40, rng=np.random.default_rng(1))
    c = sample_in_random_order(model, noise, 40, rng=np.random.default_rng(2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].min() >= 0 and a[0].max() < graph.n_clean
