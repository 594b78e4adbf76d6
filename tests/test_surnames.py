"""The character corpus: the packaged surname list, encoding, the split, row measurements."""
import numpy as np
import pytest

from minisedd.surnames import END, END_ID, CharCorpus, surnames


@pytest.fixture(scope="module")
def corpus():
    return surnames()


def test_surname_list_is_the_census_list(corpus):
    assert len(corpus.words) == 88_799
    assert corpus.words[:3] == ("smith", "johnson", "williams")       # ranks 1, 2, 3
    assert all(w.isalpha() and w.islower() and w.isascii() for w in corpus.words)
    lengths = [len(w) for w in corpus.words]
    assert min(lengths) == 2 and max(lengths) == 13
    assert corpus.length == 14 and corpus.n_clean == 27
    assert corpus.vocab[END_ID] == END and corpus.vocab[1:] == tuple("abcdefghijklmnopqrstuvwxyz")
    assert corpus.frequencies[0] == pytest.approx(1.006)


def test_split_is_a_seeded_partition(corpus):
    parts = [corpus.train_words, corpus.valid_words, corpus.test_words]
    assert [len(p) for p in parts] == [71_039, 8_880, 8_880]
    assert len(set().union(*map(set, parts))) == 88_799                  # disjoint, complete
    assert corpus.decode(corpus.test[:5]) == list(corpus.test_words[:5])
    words = [f"w{k:03d}" for k in range(100)]
    assert CharCorpus(words, rng=5).valid_words == CharCorpus(words, rng=5).valid_words
    assert CharCorpus(words, rng=5).valid_words != CharCorpus(words, rng=6).valid_words
    # every row ends with <end>: n_chars is the word length + 1
    assert np.array_equal(corpus.n_chars(corpus.valid),
                          [len(w) + 1 for w in corpus.valid_words])
    assert corpus.is_wellformed(corpus.train).all() and corpus.contains(corpus.test).all()


def test_encode_decode_and_row_measurements():
    c = CharCorpus(["abba", "ab", "ba", "ab"], frequencies=[1.0, 2.0, 3.0, 4.0])
    assert c.words == ("abba", "ab", "ba") and c.length == 5
    assert np.allclose(c.frequencies, [1.0, 6.0, 3.0])                   # repeats add up
    # without repeats the frequencies are a float64 copy, a -0.0 read as 0.0 as with repeats
    given = np.array([-0.0, 2.0, 3.0])
    unique = CharCorpus(["abba", "ab", "ba"], frequencies=given)
    given[1] = 7.0
    assert unique.frequencies.dtype == np.float64 and unique.frequencies.tolist() == [0.0, 2.0, 3.0]
    assert not np.signbit(unique.frequencies).any()
    assert c.vocab == (END, "a", "b")
    assert np.array_equal(c.encode("ab"), [1, 2, 0, 0, 0])
    x = np.array([[1, 2, 2, 1, 0],      # abba: a name
                  [2, 1, 0, 0, 0],      # ba: a name
                  [2, 2, 0, 0, 0],      # bb: well formed, not a name
                  [1, 2, 0, 1, 0],      # ab, then a letter after the end: ill formed
                  [1, 1, 1, 1, 1]])     # no end marker at all
    assert c.decode(x) == ["abba", "ba", "bb", "ab", "aaaaa"]
    assert np.array_equal(c.n_chars(x), [5, 3, 3, 3, 5])
    assert np.array_equal(c.is_wellformed(x), [True, True, True, False, True])
    assert np.array_equal(c.contains(x), [True, True, False, False, False])
    assert c.decode(c.encode(["ba", "abba"])) == ["ba", "abba"]
    assert c.contains(c.encode("ab")) and c.n_chars(c.encode("ab")) == 3


def test_custom_alphabet_and_length():
    c = CharCorpus(["héllo", "zé"], alphabet="éhloz", length=8,
                   split=(0.5, 0.5, 0.0), rng=3)
    assert c.vocab == (END, "é", "h", "l", "o", "z") and c.length == 8
    assert len(c.train) + len(c.valid) == 2 and c.test.shape == (0, 8)
    assert c.decode(c.encode("héllo")) == "héllo"


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(words="abc"), TypeError, "words"),
    (dict(words=[]), ValueError, "words"),
    (dict(words=["ab", 3]), TypeError, r"words\[1\]"),
    (dict(words=["ab", ""]), ValueError, r"words\[1\]"),
    (dict(words=["ab"], alphabet="a"), ValueError, "alphabet"),
    (dict(words=["ab"], alphabet="abb"), ValueError, "alphabet"),
    (dict(words=["ab"], length=2), ValueError, "length"),
    (dict(words=["ab"], frequencies=[1, 2]), ValueError, "frequencies"),
    (dict(words=["ab"], frequencies=[-1]), ValueError, "frequencies"),
    (dict(words=["ab"], split=(0.5, 0.5)), TypeError, "split"),
    (dict(words=["ab"], split=(0.5, 0.4, 0.4)), ValueError, "split"),
    (dict(words=["ab"], rng="seed"), TypeError, "rng"),
])
def test_bad_corpus_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        CharCorpus(**kwargs)


def test_bad_rows():
    c = CharCorpus(["ab", "ba"])
    with pytest.raises(ValueError, match="at most 2"):
        c.encode("aba")
    with pytest.raises(ValueError, match="alphabet"):
        c.encode("ac")
    with pytest.raises(ValueError, match="x must have shape"):
        c.decode(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="x must hold token ids"):
        c.n_chars(np.array([0, 1, 3]))
    with pytest.raises(TypeError, match="x must"):
        c.contains(np.zeros(3))
