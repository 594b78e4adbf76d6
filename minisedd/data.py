"""The toy corpus, the builder of the two standard setups, and encoding / decoding helpers.

Token ids of the toy corpus: ``<pad>``=0, ``I``=1, ``You``=2, ``We``=3, ``love``=4, ``AI``=5,
``NLP``=6, ``.``=7, ``[MASK]``=8. Sentences: {I, You, We} love {AI, NLP} . -- six, equally
likely, so the data has entropy log 6 nats per sentence. The uniform graph uses the first
TOY_N_CLEAN = 8 tokens (n = 8); the absorbing graph adds ``[MASK]`` (n = 9, MASK_ID = 8):
``problem(kind, TOY_N_CLEAN)`` builds either.
"""
import itertools

import numpy as np

from .checks import _show, check_choice, check_int, check_real_array, check_tokens

PAD_WORD, MASK_WORD = "<pad>", "[MASK]"     # token 0 and the last token of every vocabulary
TOY_VOCAB = (PAD_WORD, "I", "You", "We", "love", "AI", "NLP", ".", MASK_WORD)
MASK_ID = 8                                 # the id of [MASK] in TOY_VOCAB
TOY_N_CLEAN = 8                             # clean tokens of the toy corpus: all but [MASK]
TOY_SENTENCES = np.array([[s, 4, o, 7] for s, o in itertools.product((1, 2, 3), (5, 6))])
TOY_SENTENCES.setflags(write=False)


def decode(x, vocab=TOY_VOCAB, strip_pad=False):
    """Token ids (L,) -> the words joined by spaces; (N, L) -> a list of such strings.

    strip_pad: drop the <pad> tokens that fill a short sentence at its end.
    """
    if isinstance(vocab, str) or not hasattr(vocab, "__len__") or not hasattr(vocab, "__getitem__"):
        raise TypeError(f"vocab must be a sequence of words (a tuple or list), got "
                        f"{type(vocab).__name__}")
    x = check_tokens("x", x, len(vocab))
    if x.ndim == 2:
        return [decode(row, vocab, strip_pad) for row in x]
    if x.ndim != 1:
        raise ValueError(f"x must have shape (L,) or (N, L), got {x.shape}")
    words = [vocab[t] for t in x]
    while strip_pad and words and words[-1] == PAD_WORD:
        words.pop()
    return " ".join(words)


def encode(words, vocab=TOY_VOCAB):
    """A sentence (a string of space-separated words, or a list of words) -> int ids (L,)."""
    if isinstance(words, str):
        words = words.split()
    words = list(words) if isinstance(words, (list, tuple, np.ndarray)) else words
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError(f"words must be a string or a list of words (strings), got {_show(words)}")
    index = {w: k for k, w in enumerate(vocab)}
    unknown = [w for w in words if w not in index]
    if unknown:
        raise ValueError(f"words must come from the vocabulary, got unknown word(s) {unknown}")
    return np.array([index[w] for w in words], dtype=np.int64)


def empirical(samples, support):
    """Frequencies of the rows of `support` (M, L) among `samples` (N, L).

    Returns (freq (M,), inside) where inside is the fraction of samples equal to some row of
    support (so 1 - inside is the fraction of samples outside it).
    """
    samples = _check_rows("samples", samples)
    support = _check_rows("support", support)
    if samples.shape[1] != support.shape[1]:
        raise ValueError(f"samples (N, L) and support (M, L) must share L, got {samples.shape} "
                         f"and {support.shape}")
    if len(samples) == 0:
        raise ValueError("samples must hold at least one row: there are no frequencies to count")
    match = (samples[:, None, :] == support[None, :, :]).all(axis=2)   # (N, M)
    counts = match.sum(axis=0)
    return counts / max(1, samples.shape[0]), float(match.any(axis=1).mean())


def tv_distance(p, q):
    """Total-variation distance 0.5 * sum |p - q| between two distributions on the same support."""
    p, q = _check_distribution("p", p), _check_distribution("q", q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return 0.5 * float(np.abs(p - q).sum())


def _check_rows(name, x):
    """An integer array (N, L) of token ids."""
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.integer) or x.ndim != 2:
        raise TypeError(f"{name} must be an integer array (N, L) of token ids, got "
                        f"{x.dtype} of shape {x.shape}")
    return x


def _check_distribution(name, p):
    """Probabilities: finite, >= 0, summing to 1 (to 1e-6)."""
    p = check_real_array(name, p, low=0.0)
    if abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must be a distribution summing to 1, got a sum of {p.sum():.6g}")
    return p


def sample_tv(samples, support, probs):
    """TV between the empirical distribution of samples and `probs` over `support`.

    Samples outside the support count fully: TV = 0.5 * (sum_m |f_m - p_m| + outside).
    """
    freq, inside = empirical(samples, support)
    probs = _check_distribution("probs", probs)
    if probs.shape != freq.shape:
        raise ValueError(f"probs must have shape ({len(freq)},), one per row of support, got "
                         f"shape {probs.shape}")
    return 0.5 * float(np.abs(freq - probs).sum() + (1.0 - inside))


def problem(kind, n_clean):
    """The two standard setups for n_clean clean tokens: (graph, noise).

    kind "uniform": Uniform(n_clean) with Geometric(1e-4, 20);
    kind "absorbing": Absorbing(n_clean + 1) (mask_id = n_clean) with LogLinear(1e-3).
    The toy corpus uses problem(kind, TOY_N_CLEAN); a Corpus uses problem(kind, corpus.n_clean).
    """
    from .graphs import Absorbing, Uniform
    from .noise import Geometric, LogLinear
    kind = check_choice("kind", kind, ("uniform", "absorbing"))
    n_clean = check_int("n_clean", n_clean, low=1 if kind == "absorbing" else 2)
    if kind == "uniform":
        return Uniform(n_clean), Geometric(1e-4, 20.0)
    return Absorbing(n_clean + 1), LogLinear(1e-3)
