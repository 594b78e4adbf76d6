"""A corpus with dependencies between positions: number agreement, written from a small grammar.

The toy corpus of data.py is a product of independent positions, so a per-position model
fits it perfectly. Here the determiner, the noun and the verb must agree in number, and a
prepositional phrase puts a distractor noun of either number between the subject and its
verb, so the verb agrees with a noun 4 positions back, not with its neighbour:

    S -> DET_a N_a PREP the N V_a ADV .       a = singular (prob. 3/4) or plural (1/4)

    DET_sg = {this, that}      N_sg = {cat, dog}       V_sg = {runs, sleeps}
    DET_pl = {these, those}    N_pl = {cats, dogs}     V_pl = {run, sleep}
    PREP = {near, behind}      N = any of the four nouns     ADV = {today, again}

e.g. "these dogs near the cat sleep today ." Every choice but the number is uniform, so
there are M = 2 * 2*2*2*4*2*2 = 256 sentences of length L = 8, each singular one of
probability (3/4) / 128 and each plural one (1/4) / 128; the entropy is
H(3/4) + 7 log 2 = 0.5623 + 4.8520 = 5.4144 nats per sentence. The corpus is kept this
small so that ExactScore, which sums over all M sentences at every step, stays fast.

Why one length and three agreeing words, not more structure: positions that are unmasked in
the same reverse step are drawn independently, so every hidden choice the grammar spreads over
several positions (the number here) costs validity at a finite number of steps. With this
grammar the exact score gives about 99.5% grammatical samples in 128 steps; an optional
prepositional phrase (sentences of 5 or 8 words) adds a second such choice, spread over six
positions, and leaves about 98% at 128 steps (lesson 08 shows the effect of the number of steps).

Token ids: <pad> = 0 (not used by these sentences, kept so that a corpus of mixed lengths
reads the same), the words, [MASK] last (19), so problem(kind, corpus.n_clean) builds both
setups (Uniform(19) and Absorbing(20)), as problem(kind, TOY_N_CLEAN) does for the toy corpus.
"""
import itertools

import numpy as np

from .checks import _show, check_float, check_int, check_real_array, check_rng, check_tokens
from .data import MASK_WORD, PAD_WORD, decode as _decode, encode as _encode
from .exact import unique_rows

DETS = {"sg": ("this", "that"), "pl": ("these", "those")}
NOUNS = {"sg": ("cat", "dog"), "pl": ("cats", "dogs")}
VERBS = {"sg": ("runs", "sleeps"), "pl": ("run", "sleep")}
PREPS = ("near", "behind")
ADVS = ("today", "again")
AGREEMENT_VOCAB = ((PAD_WORD,) + DETS["sg"] + DETS["pl"] + NOUNS["sg"] + NOUNS["pl"] + PREPS
                   + ("the",) + VERBS["sg"] + VERBS["pl"] + ADVS + (".", MASK_WORD))
AGREEMENT_LENGTH = 8
P_NUMBER = {"sg": 0.75, "pl": 0.25}     # probability of a singular / plural subject


def _agreement_sentences():
    """Every sentence of the grammar with its probability: (list of word tuples, probs (M,))."""
    sentences, probs = [], []
    for num, p_num in P_NUMBER.items():
        choices = (DETS[num], NOUNS[num], PREPS, NOUNS["sg"] + NOUNS["pl"], VERBS[num], ADVS)
        p_rest = 1.0 / np.prod([len(c) for c in choices])          # all other choices uniform
        for det, noun, prep, other, verb, adv in itertools.product(*choices):
            sentences.append((det, noun, prep, "the", other, verb, adv, "."))
            probs.append(p_num * p_rest)
    return sentences, np.array(probs)


def _agreement_check(vocab):
    """The grammar as a vectorized test: returns check(x int (N, 8)) -> bool (N,)."""
    index = {w: k for k, w in enumerate(vocab)}

    def number(groups):      # token -> 0 (singular), 1 (plural) or -1 (not in this class)
        out = np.full(len(vocab), -1)
        for value, key in enumerate(("sg", "pl")):
            out[[index[w] for w in groups[key]]] = value
        return out

    def member(words):       # token -> whether it is one of `words`
        out = np.zeros(len(vocab), dtype=bool)
        out[[index[w] for w in words]] = True
        return out

    det_num, noun_num, verb_num = number(DETS), number(NOUNS), number(VERBS)
    is_prep, is_the, is_adv, is_stop = member(PREPS), member(["the"]), member(ADVS), member(["."])

    def check(x):
        det = det_num[x[:, 0]]                                       # (N,) number of the subject
        return ((det >= 0) & (noun_num[x[:, 1]] == det)              # DET_a N_a
                & is_prep[x[:, 2]] & is_the[x[:, 3]]                 # PREP the
                & (noun_num[x[:, 4]] >= 0)                           # N, the distractor
                & (verb_num[x[:, 5]] == det)                         # V_a, 4 positions after N_a
                & is_adv[x[:, 6]] & is_stop[x[:, 7]])                # ADV .
    return check


def _check_rows_of(name, indices, M):
    """Row indices into M sequences: integers in [0, M), a 1-D array (it may be empty)."""
    arr = np.asarray(indices)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be a 1-D array of row indices (integers), got {_show(arr)}")
    if arr.min() < 0 or arr.max() >= M:
        raise ValueError(f"{name} must hold row indices in [0, {M}), got values from "
                         f"{arr.min()} to {arr.max()}")
    return arr.astype(np.int64)


class Corpus:
    """A finite distribution over padded sentences, with a fixed train / held-out split.

    vocab: tuple of str (<pad> = 0, [MASK] last); sequences: int (M, L), distinct rows;
    probs: (M,) exact probabilities, summing to 1; train, heldout: disjoint index arrays
    covering range(M); checker: a function int (N, L) -> bool (N,) that tests the grammar.
    Build one with agreement_corpus().
    """

    def __init__(self, vocab, sequences, probs, train, heldout, checker):
        self.vocab = tuple(vocab)
        if len(set(self.vocab)) != len(self.vocab) or not all(isinstance(w, str) for w in self.vocab):
            raise ValueError(f"vocab must hold distinct strings, got {_show(vocab)}")
        self.sequences = check_tokens("sequences", sequences, len(self.vocab) - 1, ndim=2)
        M, L = self.sequences.shape
        if M == 0 or unique_rows(self.sequences, len(self.vocab))[0].shape[0] != M:
            raise ValueError(f"sequences must hold at least one row and no repeated rows, "
                             f"got {_show(self.sequences)}")
        if not callable(checker):
            raise TypeError(f"checker must be a function of x (N, L), got {_show(checker)}")
        self.probs = check_real_array("probs", probs, shape=(M,))     # a copy, float64
        if self.probs.min() <= 0 or abs(self.probs.sum() - 1) > 1e-12:
            raise ValueError(f"probs must be positive and sum to 1, got a minimum of "
                             f"{self.probs.min():.3g} and a sum of {self.probs.sum():.12g}")
        self.train = np.sort(_check_rows_of("train", train, M))
        self.heldout = np.sort(_check_rows_of("heldout", heldout, M))
        if not np.array_equal(np.sort(np.concatenate([self.train, self.heldout])), np.arange(M)):
            raise ValueError("train and heldout must split range(M) into two disjoint parts")
        self._checker = checker
        self.length = L
        self.entropy = float(-np.sum(self.probs * np.log(self.probs)))   # nats per sentence
        for arr in (self.sequences, self.probs, self.train, self.heldout):
            arr.setflags(write=False)

    @property
    def mask_id(self):
        """The id of [MASK], the last token (used only by the absorbing graph)."""
        return len(self.vocab) - 1

    @property
    def n_clean(self):
        """The number of clean tokens (all but [MASK]): build a setup with
        minisedd.problem(kind, corpus.n_clean)."""
        return len(self.vocab) - 1

    def split_indices(self, split):
        """Row indices of split None (all), "train" or "heldout"."""
        if not (split is None or (isinstance(split, str) and split in ("train", "heldout"))):
            raise ValueError(f"split must be None (all), 'train' or 'heldout', got {_show(split)}")
        return {None: np.arange(len(self.probs)), "train": self.train,
                "heldout": self.heldout}[split]

    def split_probs(self, split):
        """Probabilities of the rows of a split, renormalized to sum to 1: (len(split),)."""
        p = self.probs[self.split_indices(split)]
        if p.size == 0:
            raise ValueError(f"split {split!r} is empty (heldout_fraction was 0)")
        return p / p.sum()

    def is_grammatical(self, x):
        """Whether each row of x (N, L) (int token ids, [MASK] allowed) is a sentence: bool (N,)."""
        x = check_tokens("x", x, len(self.vocab), ndim=2)
        if x.shape[1] != self.length:
            raise ValueError(f"x must have shape (N, {self.length}), got {x.shape}")
        return self._checker(x)

    def index_of(self, x):
        """Row index in sequences of each row of x (N, L), or -1 where x is not one of them."""
        x = check_tokens("x", x, len(self.vocab), ndim=2)
        if x.shape[1] != self.length:
            raise ValueError(f"x must have shape (N, {self.length}), got {x.shape}")
        M = len(self.probs)
        _, inverse = unique_rows(np.concatenate([self.sequences, x]), len(self.vocab))
        lookup = np.full(inverse.max() + 1, -1)                       # distinct row -> index or -1
        lookup[inverse[:M]] = np.arange(M)
        return lookup[inverse[M:]]

    def sample(self, num, rng, split=None):
        """num rows drawn from probs (restricted to a split and renormalized): int (num, L).

        rng: None (fresh entropy), an int seed or a np.random.Generator.
        """
        num = check_int("num", num, low=0)
        rng = check_rng("rng", rng)
        rows = rng.choice(self.split_indices(split), size=num, p=self.split_probs(split))
        return self.sequences[rows]

    def encode(self, words):
        """A sentence (a string or a list of words) -> int (L,), padded with <pad>."""
        ids = _encode(words, self.vocab)
        if ids.size > self.length:
            raise ValueError(f"words must be at most {self.length} words, got {ids.size}")
        return np.concatenate([ids, np.zeros(self.length - ids.size, dtype=np.int64)])

    def condition(self, words, blank="_"):
        """A prompt with blanks -> a condition for sample(): int (L,), -1 at each `blank`.

        "these dogs near the cat _ _ _" -> [3, 8, 9, 11, 5, -1, -1, -1]. Padded with <pad>.
        """
        if isinstance(words, str):
            words = words.split()
        if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
            raise TypeError(f"words must be a sentence (a string, or a list of words), got "
                            f"{_show(words)}")
        ids = self.encode([self.vocab[0] if w == blank else w for w in words])
        ids[[k for k, w in enumerate(words) if w == blank]] = -1
        return ids

    def decode(self, x, strip_pad=True):
        """int (L,) -> a string; (N, L) -> a list of strings. Trailing <pad> dropped when strip_pad."""
        return _decode(x, self.vocab, strip_pad)

    def __repr__(self):
        return (f"Corpus({len(self.probs)} sentences of length {self.length}, "
                f"{len(self.vocab)} tokens, train {len(self.train)}, heldout {len(self.heldout)}, "
                f"entropy {self.entropy:.4f} nats)")


def agreement_corpus(heldout_fraction=0.2, rng=0):
    """The number-agreement corpus (module docstring) with a fixed random split.

    heldout_fraction: in [0, 1), the share of the M = 256 sentences held out (rounded);
    rng: the randomness of the split, a permutation (default 0: the same fixed split on every
    call; None gives a fresh split, a np.random.Generator draws from it). Returns a Corpus.
    """
    heldout_fraction = check_float("heldout_fraction", heldout_fraction, low=0.0, high=1.0)
    if heldout_fraction == 1.0:
        raise ValueError("heldout_fraction must be < 1 (the train split would be empty), got 1.0")
    rng = check_rng("rng", rng)
    sentences, probs = _agreement_sentences()
    index = {w: k for k, w in enumerate(AGREEMENT_VOCAB)}
    sequences = np.array([[index[w] for w in words] for words in sentences])   # (M, L)
    order = rng.permutation(len(sentences))
    k = int(round(heldout_fraction * len(sentences)))
    if k == len(sentences):
        raise ValueError(f"heldout_fraction {heldout_fraction} rounds to all {k} sentences: the "
                         f"train split would be empty")
    return Corpus(AGREEMENT_VOCAB, sequences, probs, train=order[k:], heldout=order[:k],
                  checker=_agreement_check(AGREEMENT_VOCAB))
