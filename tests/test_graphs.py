"""Forward processes (minisedd/graphs.py; lesson 01).

Claims checked, for Uniform, Absorbing and a random Graph(Q):
- Q is a valid rate matrix in the row convention, and Q_in is its transpose off the diagonal;
- every kernel P = expm(sb Q) is a stochastic matrix (non-negative, rows sum to 1);
- the closed forms of Uniform and Absorbing equal scipy.linalg.expm to 1e-12, for a float
  sigma_bar and for an array of them (a batch of kernels);
- the semigroup law P(a + b) = P(a) P(b);
- sample_transition draws with the frequencies of P, sample_limit with those of the limit,
  and the limit is stationary (limit Q = 0) and is where P(sb) goes as sb grows;
- the edges: sb = 0 is the identity, sb = 1e-12 keeps its relative precision, sb = 50 and
  n = 2 stay exact, all without warnings or NaN.
"""
import warnings

import numpy as np
import pytest
import scipy.linalg

from minisedd import Absorbing, Graph, Uniform, sample_categorical
from helpers import make_graph

KINDS = ["uniform", "absorbing", "graph"]
SIGMA_BARS = [0.0, 1e-12, 1e-6, 0.3, 1.0, 2.5, 10.0, 50.0]


def expm_kernel(graph, sb):
    """The definition, independent of any closed form: scipy.linalg.expm(sb * Q)."""
    return scipy.linalg.expm(sb * np.array(graph.Q))


def binomial_bound(p, num, sigmas=5.0):
    """sigmas standard errors of a frequency estimated from num draws with probability p."""
    return sigmas * np.sqrt(p * (1.0 - p) / num)


# -- the rate matrices ---------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_rate_matrix_is_valid_and_Q_in_is_its_transpose(kind):
    g = make_graph(kind)
    off = ~np.eye(g.n, dtype=bool)
    assert g.Q.shape == (g.n, g.n)
    assert g.Q[off].min() >= 0.0
    np.testing.assert_allclose(g.Q.sum(axis=1), 0.0, atol=1e-15)
    # Q_in[x, y] = Q[y, x]: the rate into x from y; zero on the diagonal.
    np.testing.assert_array_equal(g.Q_in[off], g.Q.T[off])
    np.testing.assert_array_equal(np.diag(g.Q_in), 0.0)


def test_uniform_and_absorbing_rate_matrices_follow_math_md():
    n = 6
    np.testing.assert_allclose(Uniform(n).Q, np.ones((n, n)) / n - np.eye(n), atol=1e-15)
    a = Absorbing(n)
    assert a.mask_id == n - 1 and a.n_clean == n - 1 and Uniform(n).n_clean == n
    expected = -np.eye(n)
    expected[:, n - 1] += 1.0             # x -> mask at rate 1, its row all zero
    np.testing.assert_array_equal(a.Q, expected)


# -- kernels -------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sb", SIGMA_BARS)
def test_kernel_is_a_stochastic_matrix(kind, sb):
    P = make_graph(kind).transition(sb)
    assert P.shape == (5, 5)
    assert np.isfinite(P).all() and P.min() >= 0.0
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("n", [2, 3, 9])
@pytest.mark.parametrize("sb", SIGMA_BARS)
def test_closed_form_equals_expm(kind, n, sb):
    g = make_graph(kind, n)
    np.testing.assert_allclose(g.transition(sb), expm_kernel(g, sb), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_array_of_sigma_bar_gives_a_batch_of_kernels(kind):
    g = make_graph(kind)
    sb = np.array([0.0, 1e-12, 0.7, 0.7, 3.0, 50.0])       # repeated values included
    P = g.transition(sb)
    assert P.shape == (sb.size, g.n, g.n)
    for b, s in enumerate(sb):
        np.testing.assert_allclose(P[b], expm_kernel(g, s), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(P[b], g.transition(float(s)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("a, b", [(0.0, 0.4), (1e-12, 1e-12), (0.3, 0.9), (2.0, 5.0), (20.0, 30.0)])
def test_semigroup_law(kind, a, b):
    g = make_graph(kind)
    np.testing.assert_allclose(g.transition(a + b), g.transition(a) @ g.transition(b),
                               rtol=0, atol=1e-12)


# -- sampling ------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_sample_transition_frequencies_match_the_kernel(kind):
    g = make_graph(kind)
    num = 20000
    x0 = np.repeat(np.arange(g.n)[:, None], num, axis=1)    # row b starts every position at b
    sb = np.linspace(0.2, 2.0, g.n)                         # a different noise level per row
    xt = g.sample_transition(x0, sb, np.random.default_rng(0))
    assert xt.shape == x0.shape and np.issubdtype(xt.dtype, np.integer)
    P = g.transition(sb)                                    # (n, n, n)
    for b in range(g.n):
        freq = np.bincount(xt[b], minlength=g.n) / num
        expected = P[b, b]                                  # the row P[x0 = b, .]
        assert np.all(freq[expected == 0.0] == 0.0), "drew a token the kernel forbids"
        assert np.all(np.abs(freq - expected) <= binomial_bound(expected, num)), \
            f"row {b}: frequencies {freq} vs kernel {expected}"


@pytest.mark.parametrize("kind", KINDS)
def test_sample_transition_accepts_a_float_and_is_seeded(kind):
    g = make_graph(kind)
    x0 = np.random.default_rng(3).integers(0, g.n_clean, size=(4, 7))
    a = g.sample_transition(x0, 0.8, np.random.default_rng(5))
    b = g.sample_transition(x0, np.full(4, 0.8), np.random.default_rng(5))
    c = g.sample_transition(x0, 0.8, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < g.n
    np.testing.assert_array_equal(g.sample_transition(x0, 0.0, np.random.default_rng(5)), x0)


def test_sample_categorical_never_draws_a_zero_probability():
    probs = np.array([[0.0, 0.5, 0.0, 0.5, 0.0],
                      [1.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 1.0]])
    draws = sample_categorical(np.repeat(probs[:, None, :], 5000, axis=1), np.random.default_rng(0))
    assert set(np.unique(draws[0])) == {1, 3}
    assert np.all(draws[1] == 0) and np.all(draws[2] == 4)
    freq = np.mean(draws[0] == 1)
    assert abs(freq - 0.5) <= binomial_bound(0.5, 5000)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_limit_draws_from_the_limit(kind):
    g = make_graph(kind)
    draws = g.sample_limit((40, 1000), np.random.default_rng(0))
    assert draws.shape == (40, 1000)
    freq = np.bincount(draws.ravel(), minlength=g.n) / draws.size
    assert np.all(freq[g.limit == 0.0] == 0.0)
    assert np.all(np.abs(freq - g.limit) <= binomial_bound(g.limit, draws.size))


@pytest.mark.parametrize("kind", KINDS)
def test_limit_is_stationary_and_is_where_the_kernel_goes(kind):
    g = make_graph(kind)
    limit = g.limit
    assert limit.shape == (g.n,) and limit.min() >= 0.0
    assert abs(limit.sum() - 1.0) <= 1e-15
    np.testing.assert_allclose(limit @ g.Q, 0.0, atol=1e-14)                 # limit Q = 0
    np.testing.assert_allclose(limit @ g.transition(1.7), limit, atol=1e-14)  # limit P = limit
    # Every row of P(sb) forgets its start: with rates >= 0.2 the gap is >= 1, e^{-50} ~ 2e-22.
    np.testing.assert_allclose(g.transition(50.0), np.tile(limit, (g.n, 1)), rtol=0, atol=1e-12)


def test_limits_of_uniform_and_absorbing():
    np.testing.assert_array_equal(Uniform(4).limit, np.full(4, 0.25))
    np.testing.assert_array_equal(Absorbing(4).limit, [0.0, 0.0, 0.0, 1.0])


# -- the edges -----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_zero_noise_is_exactly_the_identity(kind):
    g = make_graph(kind)
    np.testing.assert_array_equal(g.transition(0.0), np.eye(g.n))
    np.testing.assert_array_equal(g.transition(np.zeros(3)), np.broadcast_to(np.eye(g.n), (3, g.n, g.n)))


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_sigma_bar_keeps_relative_precision(kind):
    # At sb = 1e-12 the off-diagonal entries are sb Q[x, y] (1 + O(sb)). Computing
    # 1 - e^{-sb} as written would lose four digits here (relative error ~1e-4);
    # expm1 keeps them, and the comparison is relative (atol = 0).
    g = make_graph(kind)
    sb = 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = g.transition(sb)
    off = ~np.eye(g.n, dtype=bool) & (g.Q > 0)
    np.testing.assert_allclose(P[off], sb * g.Q[off], rtol=1e-10, atol=0)
    assert np.all(P[~np.eye(g.n, dtype=bool) & (g.Q == 0)] == 0.0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_large_sigma_bar_stays_exact():
    # sb = 50: the surviving probabilities are e^{-50} ~ 2e-22, far below 1e-12, so
    # check them relatively: no underflow to 0, no 1 - (1 - e^{-50}) cancellation.
    sb, n = 50.0, 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pu = Uniform(n).transition(sb)
        Pa = Absorbing(n).transition(sb)
    keep = np.exp(-sb)
    np.testing.assert_allclose(np.diag(Pu), keep + (1.0 - keep) / n, rtol=1e-15)
    np.testing.assert_allclose(Pu[0, 1], (1.0 - keep) / n, rtol=1e-15)
    np.testing.assert_allclose(np.diag(Pa)[:-1], keep, rtol=1e-14, atol=0)
    np.testing.assert_allclose(Pa[:-1, -1], 1.0, rtol=1e-15)


def two_state_kernel(a, b, sb):
    """expm(sb [[-a, a], [b, -b]]) solved by hand: P = 1 limit + e^{-(a+b) sb} (I - 1 limit)."""
    limit = np.array([b, a]) / (a + b)
    stay = np.exp(-(a + b) * sb)            # e^{-(a+b) sb}
    moved = -np.expm1(-(a + b) * sb)        # 1 - e^{-(a+b) sb}, exact for small sb
    return np.array([[limit[0] + limit[1] * stay, limit[1] * moved],
                     [limit[0] * moved, limit[1] + limit[0] * stay]])


@pytest.mark.parametrize("graph, a, b", [(Uniform(2), 0.5, 0.5),
                                         (Absorbing(2), 1.0, 0.0),
                                         (Graph([[-0.3, 0.3], [1.1, -1.1]]), 0.3, 1.1)],
                         ids=["uniform", "absorbing", "graph"])
@pytest.mark.parametrize("sb", [0.0, 1e-12, 0.7, 50.0])
def test_two_tokens_match_the_hand_solution(graph, a, b, sb):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = graph.transition(sb)
        batch = graph.transition(np.array([sb, sb]))
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P, two_state_kernel(a, b, sb), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(batch[1], P)


@pytest.mark.parametrize("kind", KINDS)
def test_the_three_ways_to_the_kernel_agree(kind):
    """transition (checked) = _transition (unchecked, clipped) = _expm (raw) for sb >= 0;
    _expm alone accepts a negative sb, and expm(-d Q) expm(d Q) = I."""
    g = make_graph(kind)
    sb = np.array([0.0, 0.3, 2.0])
    np.testing.assert_array_equal(g.transition(sb), g._transition(sb))
    np.testing.assert_allclose(g._expm(sb), g._transition(sb), rtol=0, atol=1e-15)
    np.testing.assert_allclose(g._expm(-0.4) @ g._expm(0.4), np.eye(g.n), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="sigma_bar must be >= 0"):
        g.transition(-0.4)


@pytest.mark.parametrize("graph, gap", [(Uniform(5), 1.0), (Absorbing(5), 1.0),
                                        (Graph([[-0.3, 0.3], [1.1, -1.1]]), 1.4)],
                         ids=["uniform", "absorbing", "graph"])
def test_spectral_gap_is_the_slowest_decay_rate(graph, gap):
    assert graph.spectral_gap == pytest.approx(gap, rel=1e-12)
