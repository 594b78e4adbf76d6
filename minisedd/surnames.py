"""Real data at the character level: a corpus of words spelled as rows of characters.

A word becomes a row of L token ids: its characters, then the end marker ``<end>`` (id 0),
repeated to fill the row. So "lee" with L = 6 reads

    l  e  e  <end> <end> <end>

The first ``<end>`` ends the word; the ones after it are padding, fixed once the word has
ended. A model of the rows is therefore a model of words of up to L - 1 characters: each
row holds at least one end marker. The characters a word is spelled with are counted as
its letters plus that one end marker (len(word) + 1), the count used for "nats per
character" everywhere in minisedd.

CharCorpus works for any list of strings; ``surnames()`` builds the one minisedd ships: the
88,799 surnames of the US Census Bureau 1990 surname list (public domain), lower-cased,
2 to 13 letters a-z, so L = 14 and 27 tokens (``<end>`` and 26 letters).

We model the list of *unique* names, each once, not the population of people who carry
them: every name of the list has the same weight. That is the usual convention of
character-level name models (a model of "what a surname looks like"); the census
frequencies are kept in ``.frequencies`` for whoever wants the other one.
"""
import functools
import os

import numpy as np

from .checks import _show, check_float, check_int, check_rng, check_tokens

END = "<end>"            # the end marker, token 0 of every CharCorpus vocabulary
END_ID = 0
SURNAMES_FILE = os.path.join(os.path.dirname(__file__), "resources", "surnames_1990.tsv")


def _check_words(name, words):
    """A non-empty list (or tuple / array) of non-empty strings -> list of str."""
    if isinstance(words, str) or not isinstance(words, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of strings, got {_show(words)}")
    words = list(words)
    if not words:
        raise ValueError(f"{name} must hold at least one string, got an empty list")
    if all(type(w) is str for w in words) and min(map(len, words)) > 0 \
            and "\0" not in "".join(words):
        return words                   # all well: no need to look for the first bad word
    for k, w in enumerate(words):
        if not isinstance(w, str):
            raise TypeError(f"{name}[{k}] must be a string, got {_show(w)}")
        if not w:
            raise ValueError(f"{name}[{k}] is the empty string; every word needs a character")
        if "\0" in w:                  # the encoding pads rows with NUL: it would read as <end>
            raise ValueError(f"{name}[{k}] holds the NUL character '\\0', which cannot be a "
                             f"character of a word")
    return words


class CharCorpus:
    """A list of words as rows of character ids, with a fixed train / valid / test split.

    words: list of strings. Repeated words are kept once (first occurrence; their
        frequencies, if given, are added): the corpus is the set of unique words.
    alphabet: the characters, a string or list of single characters (None: the characters of
        the words, sorted). Every character of every word must be in it.
    length: L, the width of a row (None: the longest word + 1, so that every row ends with
        <end>). Must be at least the longest word + 1.
    frequencies: optional non-negative weights, one per word (kept, never used for the split).
    split: fractions (train, valid, test) summing to 1; the unique words are shuffled with
        `rng` and cut in that order, so a word is in exactly one part.
    rng: seed / Generator of the split (default 0: the same split every time).

    Attributes: vocab (tuple, <end> at id 0, then the characters), n_clean = len(vocab),
    length, words (tuple of the unique words), frequencies (float array or None), train,
    valid, test (int64 arrays (M, L)), and the words of each part in train_words etc.
    """

    def __init__(self, words, alphabet=None, length=None, frequencies=None,
                 split=(0.8, 0.1, 0.1), rng=0):
        words = _check_words("words", words)
        if frequencies is not None:
            frequencies = np.asarray(frequencies)
            if frequencies.dtype == bool or not np.issubdtype(frequencies.dtype, np.number):
                raise TypeError(f"frequencies must be an array of numbers, got {_show(frequencies)}")
            if frequencies.shape != (len(words),):
                raise ValueError(f"frequencies must have shape ({len(words)},), one per word, "
                                 f"got {frequencies.shape}")
            if not np.all(np.isfinite(frequencies)) or np.any(frequencies < 0):
                raise ValueError("frequencies must be finite and >= 0")
        # unique words, first occurrence first; repeated words add their frequencies
        unique = tuple(dict.fromkeys(words))
        if frequencies is not None and len(unique) == len(words):
            frequencies = np.zeros(len(unique)) + frequencies      # a copy; 0 + (-0.0) = 0.0
        elif frequencies is not None:
            position = {w: k for k, w in enumerate(unique)}
            freq = np.zeros(len(unique))
            np.add.at(freq, [position[w] for w in words], frequencies.astype(np.float64))
            frequencies = freq
        self.words = unique
        self.frequencies = frequencies

        if alphabet is None:
            alphabet = sorted(set("".join(unique)))
        else:
            if not isinstance(alphabet, (str, list, tuple)):
                raise TypeError(f"alphabet must be a string or a list of characters, "
                                f"got {_show(alphabet)}")
            alphabet = list(alphabet)
            if not all(isinstance(c, str) and len(c) == 1 for c in alphabet):
                raise ValueError(f"alphabet must list single characters, got {_show(alphabet)}")
            if "\0" in alphabet:
                raise ValueError("alphabet must not contain the NUL character '\\0'")
            if len(set(alphabet)) != len(alphabet):
                raise ValueError("alphabet must not repeat a character")
            missing = sorted(set("".join(unique)) - set(alphabet))
            if missing:
                raise ValueError(f"alphabet must hold every character of the words; "
                                 f"missing {missing}")
        self.vocab = (END,) + tuple(alphabet)
        self.n_clean = len(self.vocab)
        self._index = {c: k for k, c in enumerate(self.vocab) if k != END_ID}

        longest = max(map(len, unique))
        self.length = longest + 1 if length is None else check_int("length", length,
                                                                   low=longest + 1)

        if not isinstance(split, (tuple, list)) or len(split) != 3:
            raise TypeError(f"split must be three fractions (train, valid, test), got {_show(split)}")
        split = [check_float(f"split[{k}]", s, low=0.0, high=1.0) for k, s in enumerate(split)]
        if abs(sum(split) - 1.0) > 1e-9:
            raise ValueError(f"split must sum to 1, got {split} (sum {sum(split)})")
        rng = check_rng("rng", rng)
        M = len(unique)
        order = rng.permutation(M)
        n_train, n_valid = int(round(split[0] * M)), int(round(split[1] * M))
        n_valid = min(n_valid, M - n_train)
        parts = np.split(order, [n_train, n_train + n_valid])
        self.train_words, self.valid_words, self.test_words = (
            tuple(map(unique.__getitem__, part.tolist())) for part in parts)
        self.train = self._encode_many(self.train_words)          # (M_train, L)
        self.valid = self._encode_many(self.valid_words)          # (M_valid, L)
        self.test = self._encode_many(self.test_words)            # (M_test, L)
        self._word_set = frozenset(unique)

    # -- strings <-> rows -----------------------------------------------------------
    def _encode_many(self, words):
        """List of words (already checked) -> int64 (N, L), padded with END_ID."""
        # all words as one string of fixed-width rows (NUL fills), read as code points
        text = "".join([w.ljust(self.length, "\0") for w in words])
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        points = points.reshape(len(words), self.length).astype(np.int64)   # (N, L)
        table = np.array([0] + [ord(c) for c in self.vocab[1:]])            # code point of id
        order = np.argsort(table)
        return order[np.searchsorted(table[order], points)]                 # (N, L) ids

    def encode(self, words):
        """A word -> int64 (L,); a list of words -> int64 (N, L). Each row is padded with <end>."""
        single = isinstance(words, str)
        words = _check_words("words", [words] if single else words)
        for k, w in enumerate(words):
            if len(w) > self.length - 1:
                raise ValueError(f"words[{k}] = {w!r} has {len(w)} characters; a row of length "
                                 f"{self.length} holds at most {self.length - 1} and its <end>")
            bad = sorted(set(w) - set(self._index))
            if bad:
                raise ValueError(f"words[{k}] = {w!r} has characters outside the alphabet: {bad}")
        out = self._encode_many(words)
        return out[0] if single else out

    def _rows(self, name, x):
        """Token ids (L,) or (N, L) -> (int64 (N, L), whether the input was one row)."""
        x = check_tokens(name, x, self.n_clean)
        if x.ndim not in (1, 2) or x.shape[-1] != self.length:
            raise ValueError(f"{name} must have shape ({self.length},) or (N, {self.length}), "
                             f"got {x.shape}")
        return x.reshape(-1, self.length), x.ndim == 1

    def decode(self, x):
        """Token ids (L,) -> the word (str), (N, L) -> a list of words; reads up to the first <end>."""
        rows, single = self._rows("x", x)
        words = []
        for row in rows:
            stop = np.flatnonzero(row == END_ID)
            row = row[:stop[0]] if stop.size else row
            words.append("".join(self.vocab[t] for t in row))
        return words[0] if single else words

    # -- measurements of rows -----------------------------------------------------------
    def n_chars(self, x):
        """Characters per row, int64 (N,) (a scalar for one row): the letters up to the first <end>
        plus that <end> (len(word) + 1); L for a row with no <end> (only a model's sample can
        lack one: every row of the corpus ends with <end>)."""
        rows, single = self._rows("x", x)
        out = n_chars(rows)
        return out[0] if single else out

    def is_wellformed(self, x):
        """bool (N,) (a scalar for one row): no letter after an <end>, i.e. a word then padding."""
        rows, single = self._rows("x", x)
        out = is_wellformed(rows)
        return out[0] if single else out

    def contains(self, x):
        """bool (N,) (a scalar for one row): the row is well formed and spells a word of the full
        list (any split) -- the test of a sample being a real name."""
        rows, single = self._rows("x", x)
        ok = is_wellformed(rows) & np.array([w in self._word_set for w in self.decode(rows)])
        return ok[0] if single else ok

    def __repr__(self):
        return (f"CharCorpus({len(self.words)} words, {self.n_clean} tokens, length={self.length}, "
                f"train/valid/test={len(self.train)}/{len(self.valid)}/{len(self.test)})")


def n_chars(rows):
    """rows int (N, L) -> int64 (N,): first <end> position + 1, or L when there is none."""
    ended = rows == END_ID                                         # (N, L)
    return np.where(ended.any(axis=1), ended.argmax(axis=1) + 1, rows.shape[1])


def is_wellformed(rows):
    """rows int (N, L) -> bool (N,): every position after the first <end> is <end> too."""
    ended = np.cumsum(rows == END_ID, axis=1) > 0                  # (N, L) at or after the end
    return ~np.any(ended & (rows != END_ID), axis=1)


@functools.lru_cache(maxsize=1)
def _read_surnames():
    """The packaged list: (tuple of names, frequencies in percent (M,)), in the file's order."""
    names, freq = [], []
    with open(SURNAMES_FILE, encoding="ascii") as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, percent = line.rstrip("\n").split("\t")
            names.append(name)
            freq.append(float(percent))
    return tuple(names), np.array(freq)


def surnames(rng=0):
    """The US Census 1990 surnames as a CharCorpus: 88,799 unique names, L = 14, 27 tokens.

    rng: seed / Generator of the 80/10/10 train / valid / test split (default 0, the split
    every lesson and measurement uses). Frequencies are the census percentages (most names
    round to 0.000); the models of minisedd ignore them and weigh every name once.
    """
    names, freq = _read_surnames()
    return CharCorpus(list(names), alphabet="abcdefghijklmnopqrstuvwxyz", length=14,
                      frequencies=freq, rng=rng)
