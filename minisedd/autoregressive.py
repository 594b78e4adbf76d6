"""An autoregressive model of rows with an exact likelihood: MADE (Germain et al., ICML 2015).

A row x (L,) of token ids (a word, the end marker 0, padding) has the exact probability

    p(x) = prod_{i < T} p(x_i | x_0 .. x_{i-1}),   T = n_chars(x)

(T counts the letters and the first end marker; L when there is none). Positions after the
first end marker are padding: once the word has ended they are end markers with probability
1, so they cost nothing in the likelihood, are masked out of the loss, and are filled with
the end marker when sampling. A row with a letter after its end marker has probability 0.

MADE computes every conditional in one pass of an MLP over the one-hot row (B, L*n) whose
weights are multiplied by fixed 0/1 masks. Give input position j the degree j + 1 and every
hidden unit a degree m in 1 .. L - 1; a hidden unit of degree m may see the inputs and
hidden units of degree <= m, and the output at position i may see hidden units of degree
<= i. Then the output at position i depends on x_0 .. x_{i-1} only: the network is
autoregressive by construction, and its log-softmax outputs (B, L, n) are the L conditionals.
(Section 4 of the paper; here the degrees are spread evenly over the hidden units, in order,
instead of drawn at random, so the model is the same for every seed.)

The loss is the negative log-likelihood per character: -sum_rows log p(x) / sum_rows T.
"""
import time

import numpy as np

from .checkpoint import (load_params, meta_array, meta_from, read_checkpoint,
                         write_checkpoint)
from .checks import _show, check_choice, check_float, check_int, check_rng, check_tokens
from .nn import (linear_backward, linear_forward, log_softmax_backward, log_softmax_forward,
                 relu_backward, relu_forward, silu_backward, silu_forward, temper)
from .optim import Adam
from .surnames import END_ID, is_wellformed, n_chars
from .threads import computing, uses_blas

FORMAT = "minisedd-made"
FORMAT_VERSION = 2     # 2: meta is stored (version 1, without it, still loads)
ACTIVATIONS = {"relu": (relu_forward, relu_backward), "silu": (silu_forward, silu_backward)}


def made_masks(length, n_symbols, hidden, depth):
    """The 0/1 masks of the depth + 1 weight matrices of a MADE, a list of float arrays.

    Input unit (j, v) (position j, token v) has degree j + 1; hidden unit k has degree
    1 + k mod (L - 1); output unit (i, v) has degree i + 1. A weight from degree a to a
    hidden unit of degree b is kept when b >= a; to an output of degree i + 1 when
    i + 1 > a (strictly). Shapes: (L*n, hidden), (hidden, hidden) x (depth - 1), (hidden, L*n).
    """
    pos_in = np.repeat(np.arange(1, length + 1), n_symbols)             # (L*n,) degrees
    deg_hidden = 1 + np.arange(hidden) % max(1, length - 1)            # (hidden,)
    masks = [(deg_hidden[None, :] >= pos_in[:, None]).astype(np.float64)]
    for _ in range(depth - 1):
        masks.append((deg_hidden[None, :] >= deg_hidden[:, None]).astype(np.float64))
    masks.append((pos_in[None, :] > deg_hidden[:, None]).astype(np.float64))
    return masks


class MADE:
    """Masked autoencoder for distribution estimation over rows of `length` ids in [0, n_symbols).

    n_symbols: n (id 0 is the end marker); length: L; hidden, depth: width and number of
    hidden layers; activation: "relu" or "silu"; rng: seeds the initialization; dtype:
    np.float64 (gradient checks) or np.float32 (faster training).
    params: dict {"W0", "b0", ..., "W<depth>", "b<depth>"}; the masked entries of each W are
    0 and stay 0 (their gradient is 0). num_params() counts every stored entry;
    num_params(effective=True) only the unmasked weights and the biases. meta: a dict of JSON
    values stored with checkpoints (a lesson keeps the record of the training there).
    """

    def __init__(self, n_symbols, length, hidden=512, depth=3, activation="relu", rng=None,
                 dtype=np.float64):
        self.n = check_int("n_symbols", n_symbols, low=2)
        self.length = check_int("length", length, low=2)
        self.hidden = check_int("hidden", hidden, low=1)
        self.depth = check_int("depth", depth, low=1)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        if dtype not in (np.float64, np.float32, "float64", "float32"):
            raise ValueError(f"dtype must be np.float64 or np.float32, got {_show(dtype)}")
        self.dtype = np.dtype(dtype)
        rng = check_rng("rng", rng)
        self.masks = [m.astype(self.dtype) for m in
                      made_masks(self.length, self.n, self.hidden, self.depth)]
        self.params = {}
        for k, mask in enumerate(self.masks):
            fan_in = np.maximum(mask.sum(axis=0), 1.0)               # unmasked inputs per unit
            scale = np.sqrt(2.0 / fan_in) * (0.1 if k == self.depth else 1.0)
            W = rng.normal(size=mask.shape) * scale * mask
            self.params[f"W{k}"] = W.astype(self.dtype)
            self.params[f"b{k}"] = np.zeros(mask.shape[1], dtype=self.dtype)
        self.meta = {}

    def num_params(self, effective=False):
        """Stored parameters; with effective=True the unmasked weights and biases only."""
        if not effective:
            return int(sum(p.size for p in self.params.values()))
        return int(sum(m.sum() + m.shape[1] for m in self.masks))

    # -- forward / backward --------------------------------------------------------------
    def _check_rows(self, name, x):
        x = check_tokens(name, x, self.n, ndim=2)
        if x.shape[1] != self.length:
            raise ValueError(f"{name} must have shape (B, {self.length}), got {x.shape}")
        return x

    @uses_blas
    def forward(self, x):
        """x int (B, L) -> (log_probs (B, L, n), cache); log_probs[b, i] = log p(. | x_<i)."""
        x = self._check_rows("x", x)
        B, L, n = x.shape[0], self.length, self.n
        act_forward, _ = ACTIVATIONS[self.activation]
        onehot = np.zeros((B, L, n), dtype=self.dtype)
        np.put_along_axis(onehot, x[:, :, None], 1.0, axis=2)              # (B, L, n)
        h = onehot.reshape(B, L * n)                                       # (B, L*n)
        caches = []
        for k, mask in enumerate(self.masks):
            W = self.params[f"W{k}"] * mask                                # masked weights
            z, lin_cache = linear_forward(h, W, self.params[f"b{k}"])      # (B, hidden)
            act_cache = None
            h = z
            if k < self.depth:
                h, act_cache = act_forward(z)
            caches.append((lin_cache, act_cache))
        logits = h.reshape(B, L, n)                                        # (B, L, n)
        log_probs, ls_cache = log_softmax_forward(logits)                  # (B, L, n)
        return log_probs, (caches, ls_cache)

    @uses_blas
    def backward(self, dlog_probs, cache):
        """dlog_probs (B, L, n) -> grads, a dict with the keys of params."""
        caches, ls_cache = cache
        _, act_backward = ACTIVATIONS[self.activation]
        B = dlog_probs.shape[0]
        dlogits = log_softmax_backward(dlog_probs, ls_cache)               # (B, L, n)
        dh = dlogits.reshape(B, -1)                                        # (B, L*n)
        grads = {}
        for k in reversed(range(len(self.masks))):
            lin_cache, act_cache = caches[k]
            dz = dh if act_cache is None else act_backward(dh, act_cache)
            dh, dW, grads[f"b{k}"] = linear_backward(dz, lin_cache)
            grads[f"W{k}"] = dW * self.masks[k]                            # W_used = W * mask
        return grads

    # -- likelihood ------------------------------------------------------------------------
    @uses_blas
    def loss(self, x):
        """Negative log-likelihood per character of the batch and its gradient.

        x int (B, L) of well-formed rows -> (loss float, dlog_probs (B, L, n), cache):
        loss = -sum_b sum_{i < T_b} log_probs[b, i, x_bi] / sum_b T_b.
        """
        x = _check_word_rows(self, "x", x)
        log_probs, cache = self.forward(x)
        counted = np.arange(self.length)[None, :] < n_chars(x)[:, None]    # (B, L) i < T
        total = counted.sum()
        picked = np.take_along_axis(log_probs, x[:, :, None], axis=2)[:, :, 0]   # (B, L)
        loss = -float(np.sum(picked * counted)) / total
        dlog_probs = np.zeros_like(log_probs)                               # (B, L, n)
        weight = -counted.astype(self.dtype) / total                        # (B, L)
        np.put_along_axis(dlog_probs, x[:, :, None], weight[:, :, None], axis=2)
        return loss, dlog_probs, cache

    def log_likelihood(self, x, batch_size=4096, temperature=1.0):
        """Exact log p(x) per row, float64 (B,) nats; -inf for a row with a letter after its end.
        temperature: of the model that sample(..., temperature) draws from, each conditional
        taken to the power 1/T and renormalized (nn.temper); 1 is the model itself."""
        x = self._check_rows("x", x)
        temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        batch_size = check_int("batch_size", batch_size, low=1)
        out = np.empty(len(x))
        with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
            for s in range(0, len(x), batch_size):
                rows = x[s:s + batch_size]
                log_probs = temper(self.forward(rows)[0], temperature)     # (b, L, n)
                picked = np.take_along_axis(log_probs, rows[:, :, None], axis=2)[:, :, 0]
                counted = np.arange(self.length)[None, :] < n_chars(rows)[:, None]
                out[s:s + batch_size] = np.sum(picked.astype(np.float64) * counted, axis=1)
        return np.where(is_wellformed(x), out, -np.inf)

    def nll_per_char(self, x):
        """-sum log p(x) / sum n_chars(x) over the rows, nats per character (a float)."""
        x = self._check_rows("x", x)
        return float(-self.log_likelihood(x).sum() / n_chars(x).sum())

    def sample(self, num, rng=None, temperature=1.0):
        """Ancestral sampling: num rows (num, L), position by position; after an end, padding.
        temperature: each letter is drawn from its conditional to the power 1/T, renormalized
        (nn.temper; below 1 the samples are less varied); 1 samples the model itself."""
        num = check_int("num", num, low=1)
        rng = check_rng("rng", rng)
        temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        x = np.full((num, self.length), END_ID, dtype=np.int64)
        done = np.zeros(num, dtype=bool)
        with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
            for i in range(self.length):
                log_probs = temper(self.forward(x)[0][:, i], temperature)  # (num, n)
                probs = np.exp(log_probs.astype(np.float64))                # (num, n)
                cdf = np.cumsum(probs, axis=1)
                u = rng.random(num) * cdf[:, -1]
                draw = np.minimum((cdf < u[:, None]).sum(axis=1), self.n - 1)   # (num,)
                x[:, i] = np.where(done, END_ID, draw)
                done |= draw == END_ID
        return x

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, path):
        """Write an .npz checkpoint (no pickles): format tag, version, settings, params, meta."""
        arrays = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            "settings": np.array([self.n, self.length, self.hidden, self.depth]),
            "activation": np.array(self.activation),
            "dtype": np.array(self.dtype.name),
            "meta": meta_array(self.meta),
        }
        write_checkpoint(path, arrays, self.params)

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by save (format version 1 or 2); a ValueError naming the
        path for anything else."""
        path, data, version = read_checkpoint(path, FORMAT, "MADE", (1, FORMAT_VERSION))
        try:
            n, length, hidden, depth = (int(v) for v in data["settings"])
            model = cls(n, length, hidden, depth, str(data["activation"]), rng=0,
                        dtype=str(data["dtype"]))
            load_params(model.params, data)
            model.meta = meta_from(data) if version >= 2 else {}
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"path {path!r} is a damaged MADE checkpoint: {err}") from None
        return model

    def __repr__(self):
        return (f"MADE(n_symbols={self.n}, length={self.length}, hidden={self.hidden}, "
                f"depth={self.depth}, params={self.num_params()}, dtype={self.dtype.name})")


def _check_word_rows(model, name, x, or_else=""):
    """Rows for model (its _check_rows), at least one, each a word padded with the end marker
    (a letter after the end has probability 0). or_else: added to the empty-rows message."""
    x = model._check_rows(name, x)
    if len(x) == 0:
        raise ValueError(f"{name} must hold at least one row{or_else}")
    if not is_wellformed(x).all():
        raise ValueError(f"{name} must be words padded with the end marker: some row has a "
                         f"letter after its end marker (its probability is 0)")
    return x


def train_autoregressive(model, data, steps, batch_size=256, lr=1e-3, rng=None, valid=None,
                         eval_every=None, log_every=None, printer=print):
    """Train an autoregressive model (MADE or CausalTransformer); see _train_autoregressive.

    BLAS runs on blas_threads() threads (1 unless MINISEDD_THREADS says): small products on
    several threads slow down badly on a busy machine.
    """
    with computing():
        return _train_autoregressive(model, data, steps, batch_size, lr, rng, valid,
                                     eval_every, log_every, printer)


def _train_autoregressive(model, data, steps, batch_size=256, lr=1e-3, rng=None, valid=None,
                          eval_every=None, log_every=None, printer=print):
    """Train a MADE in place by Adam on the NLL per character, keeping the best checkpoint.

    data: int (M, L) training rows (words padded with the end marker); steps: Adam steps;
    batch_size: rows per step, drawn in shuffled passes over the data; lr: peak learning
    rate, decayed by a cosine to lr / 10; rng: seed / Generator of the batches;
    valid: optional int (M_v, L) rows, evaluated every eval_every steps (None: steps // 20)
    and at the last step -- the parameters of the evaluation with the lowest validation NLL
    are copied back into the model at the end (best-checkpoint selection, early stopping
    without stopping); log_every: steps between progress lines (None: steps // 10, 0: silent).
    Returns a dict: "loss" (steps,) train NLL per char of each batch; "eval_step" (E,) and
    "valid_nll" (E,) nats per char; "best_step", "best_valid_nll" (None without valid);
    "steps_per_s".
    """
    from .train import epoch_sampler          # shuffled passes over the rows
    for attr in ("params", "loss", "backward", "nll_per_char", "_check_rows"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be an autoregressive model (MADE or CausalTransformer) "
                            f"with .{attr}; {type(model).__name__} has none")
    data = _check_word_rows(model, "data", data)
    if valid is not None:
        valid = _check_word_rows(model, "valid", valid, " (or be None)")
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    rng = check_rng("rng", rng)
    eval_every = (max(1, steps // 20) if eval_every is None
                  else check_int("eval_every", eval_every, low=1))
    log_every = steps // 10 if log_every is None else check_int("log_every", log_every, low=0)
    if not callable(printer):
        raise TypeError(f"printer must be callable, got {type(printer).__name__}")

    next_rows = epoch_sampler(len(data), rng)
    opt = Adam(model.params, lr=lr)
    history = {"loss": np.empty(steps), "eval_step": [], "valid_nll": [],
               "best_step": None, "best_valid_nll": None}
    best = None
    start, eval_time = time.perf_counter(), 0.0
    for step in range(steps):
        opt.lr = lr * (0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * step / steps)))   # cosine
        loss, dlog_probs, cache = model.loss(data[next_rows(batch_size)])
        if not np.isfinite(loss):
            raise FloatingPointError(f"training stopped at step {step + 1}: the loss is {loss}")
        opt.step(model.backward(dlog_probs, cache))
        history["loss"][step] = loss
        if valid is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            tick = time.perf_counter()
            v = model.nll_per_char(valid)
            eval_time += time.perf_counter() - tick
            history["eval_step"].append(step + 1)
            history["valid_nll"].append(v)
            if best is None or v < history["best_valid_nll"]:
                history["best_step"], history["best_valid_nll"] = step + 1, v
                best = {k: p.copy() for k, p in model.params.items()}
        if log_every and ((step + 1) % log_every == 0 or step == 0):
            rate = (step + 1) / (time.perf_counter() - start - eval_time)
            extra = (f"  valid {history['valid_nll'][-1]:.4f}" if history["valid_nll"] else "")
            printer(f"step {step + 1:6d}/{steps}  train {loss:.4f} nats/char{extra}  "
                    f"({rate:5.1f} steps/s)")
    history["steps_per_s"] = steps / (time.perf_counter() - start - eval_time)   # no evals
    if best is not None:
        for k, p in model.params.items():
            p[...] = best[k]
    history["eval_step"] = np.array(history["eval_step"], dtype=np.int64)
    history["valid_nll"] = np.array(history["valid_nll"])
    return history
