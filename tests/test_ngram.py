"""Interpolated Kneser-Ney n-grams: a distribution over rows, consistent counts, sampling."""
import itertools

import numpy as np
import pytest

from minisedd.ngram import NGram
from minisedd.surnames import CharCorpus, is_wellformed


def all_rows(n, L):
    """Every row of length L over ids 0..n-1, and the mask of the well-formed ones."""
    rows = np.array(list(itertools.product(range(n), repeat=L)))
    return rows, is_wellformed(rows)


@pytest.fixture(scope="module")
def tiny():
    c = CharCorpus(["ab", "abc", "ba", "cab", "bb", "a", "cc", "abcab"], length=6)
    return c, np.concatenate([c.train, c.valid, c.test])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_over_all_rows(tiny, order):
    c, data = tiny
    model = NGram(order, c.n_clean).fit(data)
    rows, ok = all_rows(c.n_clean, c.length)           # 4^6 = 4096 rows, 1365 well formed
    logp = model.log_prob(rows)
    assert np.all(np.isneginf(logp[~ok])) and np.all(np.isfinite(logp[ok]))
    assert np.exp(logp[ok]).sum() == pytest.approx(1.0, abs=1e-12)
    probs = model.next_probs(np.full((3, order - 1), model.start))
    assert probs.shape == (3, c.n_clean) and np.allclose(probs.sum(axis=1), 1.0)


def test_log_prob_is_the_sum_of_the_conditionals(tiny):
    c, data = tiny
    model = NGram(3, c.n_clean).fit(data)
    row = c.encode("cab")                               # c a b <end> <end> <end>
    s = model.start
    contexts = np.array([[s, s], [s, 3], [3, 1], [1, 2]])
    symbols = np.array([3, 1, 2, 0])
    expected = np.log(model.cond_prob(contexts, symbols)).sum()
    assert model.log_prob(row[None])[0] == pytest.approx(expected, abs=1e-12)


def test_unigram_counts_and_top_order_counts(tiny):
    c, data = tiny
    model = NGram(1, c.n_clean).fit(data)
    # order 1 uses raw counts: p(v) = (N(v) - D + D * T / n) / N, T = 4 symbols seen
    counts = np.bincount(data[np.arange(c.length)[None, :] < c.n_chars(data)[:, None]],
                         minlength=c.n_clean).astype(float)
    D, N = model.discounts[1], counts.sum()
    expected = (np.maximum(counts - D, 0) + D * 4 / c.n_clean) / N
    assert np.allclose(model.next_probs(np.zeros((1, 0), dtype=int))[0], expected)


def test_higher_order_fits_training_data_better():
    c = CharCorpus(["anna", "hannah", "nan", "ann", "hanna", "nanna"] * 3)
    data = np.concatenate([c.train, c.valid, c.test])
    nll = [NGram(k, c.n_clean).fit(data).nll_per_char(data) for k in (1, 2, 3, 4)]
    assert all(a > b for a, b in zip(nll, nll[1:]))
    # an unseen word still gets a finite probability (uniform floor under the unigram)
    unseen = NGram(4, c.n_clean).fit(data).log_prob(c.encode(["hhhh"]))
    assert np.isfinite(unseen).all()


def test_sampling_follows_the_model(tiny):
    c, data = tiny
    model = NGram(2, c.n_clean).fit(data)
    rows, ok = all_rows(c.n_clean, c.length)
    rows = rows[ok]
    p = np.exp(model.log_prob(rows))
    samples = model.sample(20_000, rng=0)
    assert is_wellformed(samples).all()
    place = c.n_clean ** np.arange(c.length)                # a row -> its number in base n
    counts = np.bincount(samples @ place, minlength=c.n_clean ** c.length)
    freq = counts[rows @ place] / len(samples)
    top = np.argsort(p)[-30:]                               # the 30 most likely rows
    z = (freq[top] - p[top]) / np.sqrt(p[top] * (1 - p[top]) / len(samples))
    assert np.abs(z).max() < 4.5                            # binomial z-scores
    assert freq.sum() == 1.0                                # every sample is well formed
    assert np.array_equal(model.sample(5, rng=1), model.sample(5, rng=1))


def test_bad_input(tiny):
    c, data = tiny
    with pytest.raises(TypeError, match="order"):
        NGram(2.0, 4)
    with pytest.raises(ValueError, match="order"):
        NGram(0, 4)
    with pytest.raises(ValueError, match="n_symbols"):
        NGram(2, 1)
    with pytest.raises(RuntimeError, match="fit"):
        NGram(2, 4).log_prob(data)
    with pytest.raises(ValueError, match="rows must hold token ids"):
        NGram(2, 3).fit(data)
    with pytest.raises(ValueError, match="end marker"):
        NGram(2, 4).fit(np.array([[1, 0, 2]]))
    model = NGram(2, 4).fit(data)
    with pytest.raises(ValueError, match="rows must have shape"):
        model.log_prob(data[:, :3])
    with pytest.raises(TypeError, match="rng"):
        model.sample(3, rng="x")
    with pytest.raises(ValueError, match="num"):
        model.sample(0)


def test_distinct_is_numpy_unique():
    # the sort-based stand-in for np.unique that fit uses: the same values, sorted, for
    # empty, single, repeated and random codes
    from minisedd.ngram import _distinct
    rng = np.random.default_rng(3)
    for codes in (np.array([], dtype=np.int64), np.array([7]), np.array([5, 5, 5]),
                  rng.integers(0, 28 ** 6, 5000), rng.integers(0, 4, 1000)):
        out = _distinct(codes)
        np.testing.assert_array_equal(out, np.unique(codes))
        assert out.dtype == codes.dtype
