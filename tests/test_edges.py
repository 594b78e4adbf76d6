"""Numerical edges of the score model, exact score, likelihood, samplers and training.

pytest turns every RuntimeWarning (overflow, invalid value, divide by zero) into an error
(setup.cfg), so each test below also asserts "no warnings". Claims checked:
- sigma_bar = 0, 1e-12 and 50: ScoreMLP and ExactScore give finite (or exactly -inf
  where a ratio is 0) log-scores with the right limits: sigma_bar = 0 is read as the floor
  1e-12, absorbing masked positions are exactly log pi - log expm1(sigma_bar), and at 50
  the uniform graph's scores are exactly 1; dse_loss of the exact score stays finite;
- log-scores of -60 and 60 go through dse_loss (exact values) and both samplers;
- t = 0 and t = 1: the schedules' end values, and sample() run to t_end = 1e-12;
- n = 2 and L = 1 everywhere: nelbo is -log p, samples follow the data, the score model
  with a single real token is exact (training loss 0 to rounding);
- a schedule up to sigma_bar = 50 still samples exactly with enough steps.
"""
import itertools

import numpy as np
import pytest

from minisedd import (Absorbing, ExactScore, Geometric, LogLinear, ScoreMLP, Uniform,
                      denoise_probs, dse_loss, nelbo, problem, sample, sample_tv, train,
                      tweedie_probs)
from minisedd.sampling import _scores

EDGE_SB = [0.0, 1e-12, 50.0]
SEQS = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 0, 0]])
PROBS = np.array([0.4, 0.3, 0.2, 0.1])


def some_states(graph, length=3):
    return np.array(list(itertools.product(range(graph.n), repeat=length)))


class ConstantScore:
    """A score that returns the same log-score everywhere (except 0 on the self entry)."""

    def __init__(self, graph, length, value):
        self.graph, self.length, self.value = graph, length, value

    def log_score(self, x_t, sigma_bar):
        log_s = np.full(x_t.shape + (self.graph.n,), self.value)
        np.put_along_axis(log_s, x_t[:, :, None], 0.0, axis=2)
        return log_s


# -- the scores at extreme noise levels --------------------------------------------------------
@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("sb", EDGE_SB)
def test_scores_at_extreme_noise_levels(kind, sb):
    graph, _ = problem(kind, 3)
    x = some_states(graph)
    model = ScoreMLP(graph, 3, hidden=8, rng=1)
    exact = ExactScore(graph, SEQS, PROBS)
    for score in (model, exact):
        log_s = score.log_score(x, sb)
        assert not np.isnan(log_s).any() and not np.isposinf(log_s).any()
        assert np.all(np.take_along_axis(log_s, x[:, :, None], axis=2) == 0.0)
    assert np.isfinite(model.log_score(x, sb)).all()
    if sb == 0.0:     # sigma_bar = 0 is read as the floor 1e-12 (a masked token needs sb > 0)
        assert np.array_equal(model.log_score(x, 0.0), model.log_score(x, 1e-12))
        assert np.array_equal(exact.log_score(x, 0.0), exact.log_score(x, 1e-12))
    if kind == "uniform" and sb == 50.0:    # P is uniform to e^-50: every ratio is 1
        np.testing.assert_allclose(exact.log_score(x, sb), 0.0, atol=1e-15)
        np.testing.assert_allclose(model.log_score(x, sb), 0.0, atol=1e-15)


@pytest.mark.parametrize("sb", [1e-12, 1e-6, 50.0])
def test_absorbing_masked_scores_are_exact_at_the_edges(sb):
    graph, _ = problem("absorbing", 3)
    model = ScoreMLP(graph, 3, hidden=8, rng=2)
    x = some_states(graph)
    log_s = model.log_score(x, sb)
    log_pi = np.log(model.posterior(x, sb))
    masked = x == graph.mask_id
    # log expm1(sb): about log(sb) = -27.63 at 1e-12, and 50 + log1p(-e^-50) = 50 at 50
    expected = log_pi[masked] - np.log(np.expm1(sb))
    np.testing.assert_allclose(log_s[masked][:, :graph.mask_id], expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("sb", [1e-12, 1e-6, 50.0])
def test_dse_of_the_exact_score_is_finite_at_the_edges(kind, sb):
    graph, _ = problem(kind, 3)
    exact = ExactScore(graph, SEQS, PROBS)
    rng = np.random.default_rng(0)
    x0 = SEQS[rng.integers(0, 4, size=200)]
    x_t = graph.sample_transition(x0, sb, rng)
    loss, grad = dse_loss(graph, exact.log_score(x_t, sb), x_t, x0, sb)
    assert np.isfinite(loss).all() and loss.min() >= 0.0 and np.isfinite(grad).all()


@pytest.mark.parametrize("value", [-60.0, 60.0])
def test_extreme_log_scores_through_dse_loss(value):
    """dse_loss of a constant log-score z: sum over y != x_t of Q[y, x_t] (e^z - r z + K(r))."""
    graph = Uniform(4)
    x0 = np.array([[0, 1, 2]])
    x_t = np.array([[0, 3, 2]])
    sb = 0.5
    log_s = np.full((1, 3, 4), value)
    loss, grad = dse_loss(graph, log_s, x_t, x0, sb)
    P = graph.transition(sb)
    expected = 0.0
    for i in range(3):
        for y in range(4):
            if y != x_t[0, i]:
                r = P[x0[0, i], y] / P[x0[0, i], x_t[0, i]]
                expected += 0.25 * (np.exp(value) - r * value + r * np.log(r) - r)
    assert loss[0] == pytest.approx(expected, rel=1e-13)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
@pytest.mark.parametrize("value", [-60.0, 60.0])
def test_samplers_take_extreme_log_scores(kind, method, value):
    graph, noise = problem(kind, 3)
    score = ConstantScore(graph, 3, value)
    x = sample(score, noise, 30, steps=8, method=method, rng=np.random.default_rng(0))
    assert x.min() >= 0 and x.max() < graph.n_clean
    p = denoise_probs(score, x, 1e-3)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-12)


# -- t at 0 and 1 ------------------------------------------------------------------------------
def test_schedules_at_t_0_and_1():
    geo, loglin = Geometric(1e-4, 20.0), LogLinear(1e-3)
    assert geo.total(0.0) == pytest.approx(1e-4, rel=1e-14)
    assert geo.total(1.0) == pytest.approx(20.0, rel=1e-14)
    assert loglin.total(0.0) == 0.0
    assert loglin.total(1.0) == pytest.approx(-np.log(1e-3), rel=1e-14)
    assert loglin.rate(1.0) == pytest.approx(0.999 / 1e-3, rel=1e-12)
    assert np.isfinite(geo.rate(np.array([0.0, 1.0]))).all()


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_sampling_down_to_t_1e_12(kind):
    graph, noise = problem(kind, 3)
    # independent positions: Tweedie with the exact score then never leaves the support
    seqs = np.array(list(itertools.product([0, 1], [1, 2], [0])))
    exact = ExactScore(graph, seqs)
    x = sample(exact, noise, 200, steps=16, rng=np.random.default_rng(0), t_end=1e-12)
    assert (x[:, None, :] == seqs[None]).all(axis=2).any(axis=1).all()     # all in the data
    assert len(np.unique(x, axis=0)) == 4


# -- the smallest problems: n = 2 and L = 1 ----------------------------------------------------
def test_two_tokens_one_position_uniform():
    graph, noise = Uniform(2), Geometric(1e-4, 20.0)
    seqs, probs = np.array([[0], [1]]), np.array([0.3, 0.7])
    exact = ExactScore(graph, seqs, probs)
    np.testing.assert_allclose(nelbo(exact, noise, seqs)[0], -np.log(probs), rtol=0, atol=1e-4)
    x = sample(exact, noise, 2000, steps=4, rng=np.random.default_rng(1))
    # one position: Tweedie with the exact score is exact, the TV is sampling noise alone
    assert sample_tv(x, seqs, probs) < 4.0 * np.sqrt(0.21 / 2000)
    model = ScoreMLP(graph, 1, hidden=4, rng=0)
    history = train(model, seqs, noise, 20, batch_size=8, rng=0, log_every=0)
    assert np.isfinite(history).all()
    assert np.isfinite(nelbo(model, noise, seqs)[0]).all()


def test_one_real_token_is_learned_exactly():
    """Absorbing(2): the only clean token is 0, the model's posterior is 1, the score exact."""
    graph, noise = Absorbing(2), LogLinear(1e-3)
    data = np.zeros((3, 1), dtype=int)
    model = ScoreMLP(graph, 1, hidden=4, rng=0)
    x = np.array([[0], [1]])
    for sb in (1e-12, 0.3, 50.0):
        log_s = model.log_score(x, sb)
        assert log_s[1, 0, 0] == pytest.approx(-np.log(np.expm1(sb)), rel=1e-14)   # masked
        assert log_s[0, 0, 1] == pytest.approx(np.log(np.expm1(sb)), rel=1e-14)    # unmasked
    history = train(model, data, noise, 20, batch_size=8, rng=0, log_every=0)
    np.testing.assert_allclose(history, 0.0, atol=1e-12)        # the loss is exactly 0
    assert abs(nelbo(model, noise, data[:1])[0][0]) < 1e-12         # -log p(0) = 0
    assert np.all(sample(model, noise, 20, steps=4, rng=0) == 0)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_length_one_with_several_tokens(kind):
    graph, noise = problem(kind, 4)
    seqs, probs = np.arange(4)[:, None], np.array([0.1, 0.2, 0.3, 0.4])
    exact = ExactScore(graph, seqs, probs)
    np.testing.assert_allclose(nelbo(exact, noise, seqs)[0], -np.log(probs), rtol=0, atol=1e-4)
    model = ScoreMLP(graph, 1, hidden=8, rng=0)
    assert np.isfinite(train(model, seqs, noise, 10, batch_size=8, rng=0, log_every=0)).all()
    estimate, se = nelbo(model, noise, seqs, method="mc", num_samples=64, rng=0)
    assert np.isfinite(estimate).all() and np.isfinite(se).all()
    if kind == "absorbing":   # one position: every draw masks it (k = 1), m ~ U(0, 1)
        exact_bound = nelbo(model, noise, seqs)[0]
        estimate, se = nelbo(model, noise, seqs, method="mc_masks", num_samples=64, rng=0)
        assert np.all(np.abs(estimate - exact_bound) < 4 * se), (estimate, exact_bound, se)


# -- a schedule up to sigma_bar = 50 -----------------------------------------------------------
def test_sampling_from_sigma_bar_50_with_enough_steps():
    """Tweedie steps from sigma_bar = 50 stay exact for one position when each step is small
    enough (here 16 steps); with <= 4 steps, e^{delta} ~ 1e20 cancels."""
    graph, noise = Uniform(4), Geometric(1e-4, 50.0)
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    exact = ExactScore(graph, np.arange(4)[:, None], probs)
    t = np.linspace(1.0, 1e-5, 17)
    sb = noise.total(t)
    dist = np.full(4, 0.25)                                    # the limit
    states = np.arange(4)[:, None]
    for k in range(16):
        s = _scores(exact, states, sb[k])
        dist = dist @ tweedie_probs(graph, s, states, sb[k] - sb[k + 1])[:, 0, :]
    dist = dist @ denoise_probs(exact, states, sb[-1])[:, 0, :]
    np.testing.assert_allclose(dist, probs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_network_takes_a_batch_of_no_rows(kind, dtype):
    graph, _ = problem(kind, 3)
    model = ScoreMLP(graph, 4, hidden=8, rng=0, dtype=dtype)
    log_s = model.log_score(np.zeros((0, 4), dtype=int), np.zeros(0))
    assert log_s.shape == (0, 4, graph.n)
