"""The agreement corpus: exact probabilities, a fixed split, and a grammar check that parses."""

import numpy as np
import pytest

import minisedd as ms
from minisedd.corpus import Corpus


@pytest.fixture(scope="module")
def corpus():
    return ms.agreement_corpus()


def test_shape_vocabulary_and_probabilities(corpus):
    M, L = corpus.sequences.shape
    assert (M, L) == (256, 8) and corpus.length == 8
    assert corpus.vocab[0] == "<pad>" and corpus.vocab[-1] == "[MASK]"
    assert corpus.mask_id == len(corpus.vocab) - 1
    assert corpus.sequences.max() < corpus.mask_id            # no [MASK] in clean data
    assert np.all(corpus.probs > 0)
    assert corpus.probs.sum() == pytest.approx(1.0, abs=1e-14)
    # distinct rows: every sentence is listed once
    assert len(np.unique(corpus.sequences, axis=0)) == M
    # singular subjects carry 3/4 of the mass, uniformly over their 128 sentences
    singular = np.isin(corpus.sequences[:, 0], [corpus.vocab.index("this"), corpus.vocab.index("that")])
    assert singular.sum() == 128
    np.testing.assert_allclose(corpus.probs[singular], 0.75 / 128, rtol=1e-14)
    np.testing.assert_allclose(corpus.probs[~singular], 0.25 / 128, rtol=1e-14)


def test_entropy(corpus):
    assert corpus.entropy == pytest.approx(-np.sum(corpus.probs * np.log(corpus.probs)), abs=1e-12)
    # closed form: H(3/4) for the number, then seven uniform binary choices
    h_number = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert corpus.entropy == pytest.approx(h_number + 7 * np.log(2), abs=1e-12)


def test_split_is_fixed_disjoint_and_complete(corpus):
    again = ms.agreement_corpus()
    np.testing.assert_array_equal(corpus.train, again.train)
    np.testing.assert_array_equal(corpus.heldout, again.heldout)
    assert len(np.intersect1d(corpus.train, corpus.heldout)) == 0
    np.testing.assert_array_equal(np.union1d(corpus.train, corpus.heldout), np.arange(256))
    assert len(corpus.heldout) == round(0.2 * 256)
    other = ms.agreement_corpus(rng=1)
    assert not np.array_equal(other.heldout, corpus.heldout)   # the seed chooses the split
    np.testing.assert_array_equal(ms.agreement_corpus(rng=np.random.default_rng(1)).heldout,
                                  other.heldout)
    np.testing.assert_array_equal(other.sequences, corpus.sequences)
    assert len(ms.agreement_corpus(heldout_fraction=0.0).heldout) == 0
    assert len(ms.agreement_corpus(heldout_fraction=0.5).heldout) == 128
    with pytest.raises(ValueError):
        corpus.train[0] = 5                                   # read-only


def test_is_grammatical_agrees_with_membership(corpus):
    """Every sentence passes; every one-word change passes iff it is another listed sentence."""
    assert corpus.is_grammatical(corpus.sequences).all()
    M, L = corpus.sequences.shape
    V = len(corpus.vocab)                                     # including [MASK]
    edits = np.repeat(corpus.sequences, L * V, axis=0)         # (M * L * V, L)
    pos = np.tile(np.repeat(np.arange(L), V), M)
    tok = np.tile(np.arange(V), M * L)
    edits[np.arange(len(edits)), pos] = tok
    member = corpus.index_of(edits) >= 0
    np.testing.assert_array_equal(corpus.is_grammatical(edits), member)
    assert 0 < member.mean() < 1                                # both kinds occur
    # random rows (almost all ungrammatical) and two-word swaps
    rng = np.random.default_rng(0)
    noise = rng.integers(0, V, size=(5000, L))
    np.testing.assert_array_equal(corpus.is_grammatical(noise), corpus.index_of(noise) >= 0)
    swaps = corpus.sequences[rng.integers(0, M, 3000)].copy()
    i, j = rng.integers(0, L, (2, 3000))
    swaps[np.arange(3000), i], swaps[np.arange(3000), j] = (swaps[np.arange(3000), j],
                                                            swaps[np.arange(3000), i])
    np.testing.assert_array_equal(corpus.is_grammatical(swaps), corpus.index_of(swaps) >= 0)


def test_is_grammatical_rejects_broken_agreement(corpus):
    good = ["these dogs near the cat sleep today .", "this dog behind the dogs runs again ."]
    bad = ["these dogs near the cat sleeps today .",     # verb agrees with the distractor
           "this dogs near the cat sleep today .",       # determiner disagrees
           "these dog near the cat sleep today .",       # noun disagrees
           "this dog near the cat run today .",          # verb disagrees
           "these dogs near the cat today sleep .",      # words out of order
           "these dogs near the the sleep today ."]      # a determiner where a noun belongs
    x = np.stack([corpus.encode(s) for s in good + bad])
    np.testing.assert_array_equal(corpus.is_grammatical(x), [True] * 2 + [False] * 6)
    masked = corpus.sequences[:3].copy()
    masked[:, 5] = corpus.mask_id
    assert not corpus.is_grammatical(masked).any()


def test_index_of_and_encode_decode(corpus):
    rows = [0, 17, 255]
    np.testing.assert_array_equal(corpus.index_of(corpus.sequences[rows]), rows)
    for k in rows:
        text = corpus.decode(corpus.sequences[k])
        np.testing.assert_array_equal(corpus.encode(text), corpus.sequences[k])
    assert corpus.decode(corpus.sequences[:2]) == [corpus.decode(corpus.sequences[0]),
                                                   corpus.decode(corpus.sequences[1])]
    short = corpus.encode("this cat")                          # padded with <pad> = 0
    np.testing.assert_array_equal(short[2:], 0)
    assert corpus.decode(short) == "this cat"
    assert corpus.decode(short, strip_pad=False).endswith("<pad>")
    c = corpus.condition("these dogs near the cat _ _ _")
    np.testing.assert_array_equal(c[5:], -1)
    np.testing.assert_array_equal(c[:5], corpus.encode("these dogs near the cat")[:5])


def test_sample_follows_probs_and_split(corpus):
    rng = np.random.default_rng(1)
    x = corpus.sample(40000, rng)
    freq, inside = ms.empirical(x, corpus.sequences)
    assert inside == 1.0
    singular = corpus.sequences[:, 0] <= 2                     # this (1), that (2)
    assert freq[singular].sum() == pytest.approx(0.75, abs=0.01)
    assert ms.tv_distance(freq, corpus.probs) < 0.06           # ~0.04 expected for 40000 draws
    for split in ("train", "heldout"):
        idx = corpus.index_of(corpus.sample(3000, rng, split=split))
        assert np.isin(idx, corpus.split_indices(split)).all()
    # renormalized: held-out draws follow the held-out probabilities
    h = corpus.sample(20000, rng, split="heldout")
    f, _ = ms.empirical(h, corpus.sequences[corpus.heldout])
    assert ms.tv_distance(f, corpus.split_probs("heldout")) < 0.05
    assert corpus.split_probs("train").sum() == pytest.approx(1.0)
    # same generator seed, same draws
    np.testing.assert_array_equal(corpus.sample(50, np.random.default_rng(3)),
                                  corpus.sample(50, np.random.default_rng(3)))


def test_problem_graphs_work_with_exact_score(corpus):
    graph, noise = ms.problem("absorbing", corpus.n_clean)
    assert graph.kind == "absorbing" and graph.n == len(corpus.vocab) and isinstance(noise, ms.LogLinear)
    graph_u, noise_u = ms.problem("uniform", corpus.n_clean)
    assert graph_u.kind == "uniform" and graph_u.n == len(corpus.vocab) - 1
    assert isinstance(noise_u, ms.Geometric)
    for g in (graph, graph_u):
        ms.ExactScore(g, corpus.sequences, corpus.probs)       # the clean tokens fit both graphs


def test_bad_input(corpus):
    with pytest.raises(ValueError, match="heldout_fraction"):
        ms.agreement_corpus(heldout_fraction=1.0)
    with pytest.raises(ValueError, match="heldout_fraction"):
        ms.agreement_corpus(heldout_fraction=-0.1)
    with pytest.raises(TypeError, match="heldout_fraction"):
        ms.agreement_corpus(heldout_fraction="0.2")
    with pytest.raises(ValueError, match="rng"):
        ms.agreement_corpus(rng=-1)
    with pytest.raises(TypeError, match="rng"):
        ms.agreement_corpus(rng=1.5)
    with pytest.raises(TypeError, match="x"):
        corpus.is_grammatical(corpus.sequences.astype(float))
    with pytest.raises(ValueError, match="x"):
        corpus.is_grammatical(corpus.sequences[:, :5])
    with pytest.raises(ValueError, match="x"):
        corpus.is_grammatical(corpus.sequences[0])             # (L,), not (N, L)
    with pytest.raises(ValueError, match="x"):
        corpus.is_grammatical(np.full((1, 8), len(corpus.vocab)))
    with pytest.raises(ValueError, match="split"):
        corpus.sample(3, np.random.default_rng(0), split="test")
    with pytest.raises(ValueError, match="num"):
        corpus.sample(-1, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        corpus.sample(3, rng="abc")
    np.testing.assert_array_equal(corpus.sample(3, rng=4),
                                  corpus.sample(3, np.random.default_rng(4)))   # an int seed
    with pytest.raises(ValueError, match="empty"):
        ms.agreement_corpus(heldout_fraction=0.0).sample(3, np.random.default_rng(0), split="heldout")
    with pytest.raises(ValueError, match="kind"):
        ms.problem("gaussian", corpus.n_clean)
    with pytest.raises(ValueError, match="unknown"):
        corpus.encode("these unicorns near the cat sleep today .")
    with pytest.raises(ValueError, match="words"):
        corpus.encode("these dogs near the cat sleep today . again")


def test_corpus_constructor_checks(corpus):
    seqs, probs = corpus.sequences, corpus.probs
    check = corpus.is_grammatical
    half = np.arange(128)
    with pytest.raises(ValueError, match="repeated"):
        Corpus(corpus.vocab, np.concatenate([seqs, seqs[:1]]), np.append(probs, 0.0), half,
               np.arange(128, 257), check)
    with pytest.raises(ValueError, match="probs"):
        Corpus(corpus.vocab, seqs, probs * 2, half, half + 128, check)
    with pytest.raises(ValueError, match="split"):
        Corpus(corpus.vocab, seqs, probs, half, half, check)
    with pytest.raises(TypeError, match="checker"):
        Corpus(corpus.vocab, seqs, probs, half, half + 128, None)
    with pytest.raises(ValueError, match="vocab"):
        Corpus(corpus.vocab[:-1] + ("this",), seqs, probs, half, half + 128, check)
    with pytest.raises(ValueError, match="sequences"):
        Corpus(corpus.vocab, np.full((1, 8), corpus.mask_id), [1.0], [0], [], check)
