"""Character n-gram models: the baseline every model of words must beat.

A row (L,) of token ids is a word followed by the end marker (id 0) and padding. An n-gram
model of order N spells the word left to right, one character at a time, each from the N - 1
characters before it (the first ones see start symbols ``<s>``, an extra id n used only as
context):

    p(row) = prod_{i < n_chars(row)} p(x_i | x_{i-N+1} .. x_{i-1})

where n_chars(row) counts the letters and the one end marker (L if the row has none). The positions
after the first end marker are padding and cost nothing; a row with a letter after its end
marker has probability 0. So the model is a distribution over the well-formed rows of
length L: exp(log_prob) sums to 1 over them (tests/test_ngram.py enumerates a small case).

Smoothing: interpolated Kneser-Ney (Kneser & Ney 1995; Chen & Goodman 1998, section 3).
For a context h of m - 1 characters and its shorter context h' (the last m - 2):

    p_m(c | h) = max(C_m(h c) - D_m, 0) / C_m(h)  +  D_m T_m(h) / C_m(h) * p_{m-1}(c | h')

C_m(h) = sum_c C_m(h c); T_m(h) = number of c with C_m(h c) > 0; a context never seen
(C_m(h) = 0) falls back to p_{m-1}(c | h') entirely. At the top order C_N counts the
N-grams of the training rows; at lower orders C_m(h c) is the *continuation count*, the
number of different characters seen just before h c, which measures how many contexts a
character completes rather than how often. Below the unigram sits the uniform
distribution p_0(c) = 1/n over the n symbols, so every character keeps a probability > 0 (it
plays the role of add-k smoothing at the unigram level) and no held-out word gets -inf.
The discounts follow a fixed rule, no tuning on held-out data: D_m = n1 / (n1 + 2 n2), with
n1, n2 the numbers of m-grams counted once and twice (Ney, Essen & Kneser 1994), clipped
to [0.05, 0.95] (0.5 when no m-gram is counted once or twice, as for the unigrams of a
large corpus).
"""
import numpy as np

from .checks import check_int, check_rng, check_tokens
from .surnames import END_ID, is_wellformed, n_chars


def _distinct(codes):
    """np.unique(codes) for an int array (P,), by one sort. NumPy 2.4 (2.4.6 measured) answers
    np.unique(codes) through a hash table: 0.29 s on 300,000 random codes, against 0.007 s."""
    codes = np.sort(codes)
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = codes[1:] != codes[:-1]
    return codes[keep]


class NGram:
    """Interpolated Kneser-Ney n-gram model over rows of n_symbols token ids (end marker = 0).

    order: N >= 1 (1 = unigram, 3 = trigram, ...); n_symbols: n, the ids 0 (end) .. n - 1.
    Call .fit(rows) before .log_prob or .sample. After fitting: length (L of the rows),
    discounts (D_1 .. D_N), and per order m the sorted codes and counts of the m-grams.
    """

    def __init__(self, order, n_symbols):
        self.order = check_int("order", order, low=1)
        self.n = check_int("n_symbols", n_symbols, low=2)
        self.base = self.n + 1                          # ids 0..n-1 and the start symbol n
        if self.base ** self.order >= 2 ** 62:
            raise ValueError(f"order {order} with {n_symbols} symbols is too large to index "
                             f"its n-grams in 64-bit integers")
        self.start = self.n                             # <s>, context only
        self.length = None

    # -- counting --------------------------------------------------------------------------
    def _windows(self, rows):
        """rows (M, L) -> (contexts (P, N-1), symbols (P,), row of each (P,)) for i < n_chars."""
        M, L = rows.shape
        N = self.order
        padded = np.concatenate([np.full((M, N - 1), self.start, dtype=np.int64), rows], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(padded, N, axis=1)   # (M, L, N)
        keep = np.arange(L)[None, :] < n_chars(rows)[:, None]                   # (M, L)
        picked = windows[keep]                                                  # (P, N)
        return picked[:, :-1], picked[:, -1], np.nonzero(keep)[0]

    def _codes(self, context, m):
        """The code of the last m - 1 characters of each context (P, N-1) -> int64 (P,)."""
        code = np.zeros(len(context), dtype=np.int64)
        for j in range(self.order - m, self.order - 1):
            code = code * self.base + context[:, j]
        return code

    def fit(self, rows):
        """Count the n-grams of the training rows (M, L), each a word then end markers.

        Rows with a letter after their end marker are rejected (they are not words).
        Returns self.
        """
        rows = check_tokens("rows", rows, self.n, ndim=2)
        if rows.shape[0] == 0 or rows.shape[1] == 0:
            raise ValueError(f"rows must hold at least one row of at least one token, "
                             f"got shape {rows.shape}")
        if not is_wellformed(rows).all():
            raise ValueError("rows must be words padded with the end marker 0: some row has "
                             "a letter after its end marker")
        self.length = rows.shape[1]
        context, symbol, _ = self._windows(rows)
        N, b = self.order, self.base
        self.grams, self.counts, self.contexts, self.totals, self.types = {}, {}, {}, {}, {}
        self.discounts = {}
        # the distinct N-grams and their counts; every lower order is read off them
        top, top_counts = np.unique(self._codes(context, N) * b + symbol, return_counts=True)
        for m in range(N, 0, -1):
            grams, where = np.unique(top % b ** m, return_inverse=True)        # the m-grams
            counts = np.bincount(where, weights=top_counts)                     # raw counts
            if m < N:   # continuation counts: distinct characters seen before the m-gram
                longer = _distinct(top % b ** (m + 1))                          # (m+1)-grams
                _, follow = np.unique(longer % b ** m, return_counts=True)
                # an m-gram that starts with <s> has nothing before it: keep its raw count
                counts = np.where(grams // b ** (m - 1) == self.start, counts, follow)
            self.grams[m], self.counts[m] = grams, counts.astype(np.float64)
            n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
            D = n1 / (n1 + 2.0 * n2) if n1 + n2 > 0 else 0.5
            self.discounts[m] = float(np.clip(D, 0.05, 0.95))    # stay inside (0, 1)
            ctx, where = np.unique(grams // b, return_inverse=True)            # contexts h
            self.contexts[m] = ctx
            self.totals[m] = np.bincount(where, weights=self.counts[m])        # C_m(h)
            self.types[m] = np.bincount(where).astype(np.float64)              # T_m(h)
        return self

    # -- probabilities ----------------------------------------------------------------------
    def _check_fitted(self):
        if self.length is None:
            raise RuntimeError("this NGram has not been fitted: call .fit(rows) first")

    @staticmethod
    def _lookup(keys, table, values):
        """values[table == key] for each key, 0 where the key is not in the sorted table."""
        at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        found = table[at] == keys
        return np.where(found, values[at], 0.0)

    def cond_prob(self, context, symbol):
        """p(symbol | context): context int (P, N-1) (ids or the start id n), symbol (P,) -> (P,)."""
        self._check_fitted()
        context = check_tokens("context", context, self.n + 1, ndim=2)   # n: before the start
        symbol = check_tokens("symbol", symbol, self.n, ndim=1)
        if context.shape != (len(symbol), self.order - 1):
            raise ValueError(f"context must have shape ({len(symbol)}, {self.order - 1}), one row "
                             f"per symbol, got {context.shape}")
        return self._cond_prob(context, symbol)

    def _cond_prob(self, context, symbol):
        """cond_prob without the checks, for next_probs and log_prob, which made context and
        symbol from inputs they checked."""
        p = np.full(len(symbol), 1.0 / self.n)                                # p_0: uniform
        for m in range(1, self.order + 1):
            D = self.discounts[m]
            h = self._codes(context, m)                                       # (P,)
            C_hc = self._lookup(h * self.base + symbol, self.grams[m], self.counts[m])
            C_h = self._lookup(h, self.contexts[m], self.totals[m])
            T_h = self._lookup(h, self.contexts[m], self.types[m])
            seen = C_h > 0
            safe = np.where(seen, C_h, 1.0)
            p = np.where(seen, (np.maximum(C_hc - D, 0.0) + D * T_h * p) / safe, p)
        return p

    def next_probs(self, context):
        """The distribution of the next character, (P, n), given contexts (P, N-1)."""
        self._check_fitted()
        context = check_tokens("context", context, self.n + 1, ndim=2)   # n: before the start
        if context.shape[1] != self.order - 1:
            raise ValueError(f"context must have shape (P, {self.order - 1}), got {context.shape}")
        P = context.shape[0]
        ctx = np.repeat(context, self.n, axis=0)                              # (P*n, N-1)
        sym = np.tile(np.arange(self.n), P)                                   # (P*n,)
        return self._cond_prob(ctx, sym).reshape(P, self.n)

    def log_prob(self, rows):
        """Exact log-probability of each row, (M,) nats; -inf for a row with a letter after its end."""
        self._check_fitted()
        rows = check_tokens("rows", rows, self.n, ndim=2)
        if rows.shape[1] != self.length:
            raise ValueError(f"rows must have shape (M, {self.length}) like the fitted rows, "
                             f"got {rows.shape}")
        context, symbol, which = self._windows(rows)
        logp = np.log(self._cond_prob(context, symbol))                      # (P,)
        out = np.bincount(which, weights=logp, minlength=len(rows))           # (M,)
        return np.where(is_wellformed(rows), out, -np.inf)

    def nll_per_char(self, rows):
        """Negative log-likelihood in nats per character: -sum log p / sum n_chars, a float."""
        rows = check_tokens("rows", rows, self.n, ndim=2)
        return float(-self.log_prob(rows).sum() / n_chars(rows).sum())

    def sample(self, num, rng=None):
        """Draw num rows (num, L) left to right; once the end marker is drawn the row is padded."""
        self._check_fitted()
        num = check_int("num", num, low=1)
        rng = check_rng("rng", rng)
        N = self.order
        seq = np.full((num, N - 1 + self.length), self.start, dtype=np.int64)
        done = np.zeros(num, dtype=bool)
        for i in range(self.length):
            probs = self.next_probs(seq[:, i:i + N - 1])                        # (num, n)
            cdf = np.cumsum(probs, axis=1)
            u = rng.random(num) * cdf[:, -1]
            draw = np.minimum((cdf < u[:, None]).sum(axis=1), self.n - 1)       # (num,)
            seq[:, N - 1 + i] = np.where(done, END_ID, draw)
            done |= draw == END_ID
        return seq[:, N - 1:]

    def __repr__(self):
        return f"NGram(order={self.order}, n_symbols={self.n}, fitted={self.length is not None})"
