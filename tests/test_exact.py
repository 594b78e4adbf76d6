"""The exact concrete score ExactScore (minisedd/exact.py; lesson 02).

Claims checked, on Uniform, Absorbing and a random Graph(Q), for a uniform and a
non-uniform distribution over a few sequences of length 3 (with dependencies between
positions):
- p_t(x) from ExactScore.prob_t equals a direct sum over the data with P from
  scipy.linalg.expm;
- log_score equals the brute-force log ratio of marginals log p_t(x with x_i := y) - log p_t(x)
  for every reachable x, every position and every token (-inf exactly where the ratio is 0);
- the posterior pi_i(v) equals p(x0_i = v | x_j for j != i) summed directly;
- repeated rows add their probabilities, zero-probability rows change nothing, and
  probs=None means uniform.
"""
import itertools

import numpy as np
import pytest
import scipy.linalg

from minisedd import Absorbing, ExactScore, Uniform, unique_rows
import helpers

KINDS = ["uniform", "absorbing", "graph"]
SIGMA_BARS = [0.05, 0.7, 3.0]


def make_graph(kind):
    """A graph with 3 clean tokens (Absorbing(4) adds the mask)."""
    return helpers.make_graph(kind, 4 if kind == "absorbing" else 3)


def make_data(weighted):
    """Five length-3 sequences over tokens {0, 1, 2} whose positions depend on each other."""
    seqs = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 0, 0], [1, 1, 2]])
    probs = np.array([0.35, 0.25, 0.2, 0.12, 0.08]) if weighted else None
    return seqs, probs


def all_states(n, length):
    return np.array(list(itertools.product(range(n), repeat=length)))


def brute_prob_t(graph, seqs, probs, x, sb):
    """p_t(x) = sum_m p_m prod_j P[x0^m_j, x_j], P = expm(sb Q) from scipy: (B,)."""
    P = scipy.linalg.expm(sb * np.array(graph.Q))
    probs = np.full(len(seqs), 1.0 / len(seqs)) if probs is None else probs
    out = np.zeros(len(x))
    for row, p in zip(seqs, probs):
        out += p * np.prod(P[row[None, :], x], axis=1)
    return np.maximum(out, 0.0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sb", SIGMA_BARS)
def test_prob_t_is_the_direct_sum(kind, weighted, sb):
    graph = make_graph(kind)
    seqs, probs = make_data(weighted)
    exact = ExactScore(graph, seqs, probs)
    x = all_states(graph.n, 3)
    np.testing.assert_allclose(exact.prob_t(x, sb), brute_prob_t(graph, seqs, probs, x, sb),
                               rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sb", SIGMA_BARS)
def test_log_score_is_the_ratio_of_marginals(kind, weighted, sb):
    graph = make_graph(kind)
    seqs, probs = make_data(weighted)
    exact = ExactScore(graph, seqs, probs)
    x = all_states(graph.n, 3)
    p_x = brute_prob_t(graph, seqs, probs, x, sb)
    live = p_x > 0                                  # the score is defined where p_t(x) > 0
    x, p_x = x[live], p_x[live]
    log_s = exact.log_score(x, sb)                  # (B, 3, n)
    for i in range(3):
        for y in range(graph.n):
            swapped = x.copy()
            swapped[:, i] = y
            ratio = brute_prob_t(graph, seqs, probs, swapped, sb) / p_x
            zero = ratio == 0.0
            assert np.all(log_s[zero, i, y] == -np.inf)
            np.testing.assert_allclose(log_s[~zero, i, y], np.log(ratio[~zero]), rtol=0, atol=1e-9)
    if kind == "absorbing":
        assert (~live).any() and np.isneginf(log_s).any()    # both special cases occurred


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sb", SIGMA_BARS)
def test_posterior_is_the_conditional_of_the_clean_token(kind, sb):
    """pi_i(v) = p(x0_i = v | x_{-i}), proportional to
    sum over k with x0^k_i = v of p_k prod_{j != i} P[x0^k_j, x_j]."""
    graph = make_graph(kind)
    seqs, probs = make_data(True)
    exact = ExactScore(graph, seqs, probs)
    P = scipy.linalg.expm(sb * np.array(graph.Q))
    x = all_states(graph.n, 3)
    pi = exact.posterior(x, sb)                                    # (B, 3, n_clean)
    np.testing.assert_allclose(pi.sum(axis=2), 1.0, atol=1e-12)
    for b in range(0, len(x), 5):
        for i in range(3):
            others = [j for j in range(3) if j != i]
            w = probs * np.prod(P[seqs[:, others], x[b, others]], axis=1)   # (M,)
            if w.sum() == 0:
                continue                      # a context no sequence produces: no posterior
            expected = np.bincount(seqs[:, i], weights=w, minlength=graph.n_clean) / w.sum()
            np.testing.assert_allclose(pi[b, i], expected, rtol=1e-9, atol=1e-12)


def test_clean_marginals_are_the_token_frequencies_per_position():
    seqs, probs = make_data(True)
    exact = ExactScore(Absorbing(4), seqs, probs)
    assert exact.clean_marginals.shape == (3, 3)                   # (L, n_clean)
    for i in range(3):
        expected = np.bincount(seqs[:, i], weights=probs, minlength=3)
        np.testing.assert_allclose(exact.clean_marginals[i], expected, rtol=0, atol=1e-15)


def test_repeated_rows_add_their_probabilities():
    graph = Uniform(3)
    seqs, probs = make_data(True)
    # split the first sequence in two copies and add a sequence of probability 0
    split = np.concatenate([seqs[:1], seqs, [[2, 2, 2]]])
    split_probs = np.concatenate([[0.2], [0.15], probs[1:], [0.0]])
    assert split_probs.sum() == pytest.approx(1.0)
    x = all_states(3, 3)
    a = ExactScore(graph, seqs, probs).log_score(x, 0.4)
    b = ExactScore(graph, split, split_probs).log_score(x, 0.4)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_probs_none_means_uniform():
    graph = Absorbing(4)
    seqs, _ = make_data(False)
    x = all_states(4, 3)
    a = ExactScore(graph, seqs).log_score(x, 1.3)
    b = ExactScore(graph, seqs, np.full(5, 0.2)).log_score(x, 1.3)
    assert np.array_equal(a, b)


def test_unique_rows_finds_distinct_rows_and_their_inverse():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(50, 4))
    unique, inverse = unique_rows(x, 3)
    assert np.array_equal(unique[inverse], x)
    assert len({tuple(r) for r in unique}) == len(unique) == len({tuple(r) for r in x})
