"""ScoreTransformer, the paper's kind of score network, and its autoregressive twin.

ScoreTransformer (a small DiT-style encoder, as in SEDD's experiments):

    x_t (B, L) --token + position embedding--> h (B, L, d)
    sigma_bar (B,) --(e^{-sb}, log1p sb)--> Linear-SiLU-Linear --> c (B, d)
    n_layers x  block(h; shift, scale, gate = SiLU(c) W_ada + b_ada)     (bidirectional attention)
    modulate(LN(h); shift, scale from c) W_out + b_out --> logits (B, L, n_clean)
        --log-softmax--> log pi
    pi --(pi P)_y / (pi P)_{x_i}--> log-scores (B, L, n)        (the same map as ScoreMLP)

The noise level enters every block through adaptive layer norm: a shift and a scale for the
normalized input of each sub-block and a gate on its output, all computed from c. Their weights
start at zero (adaLN-Zero), so at initialization every block is the identity and the network
is an embedding followed by a read-out; training opens the gates.

CausalTransformer uses the same blocks with a causal mask and no noise level. Its "adaptive"
layer norm is fed a constant: the shifts, scales and gates are learned vectors, one set per
block (an ordinary LayerNorm with a learned affine map, plus a learned gate, zero at the start).
The input is shifted right behind a learned start token, so the output at i sees x_{<i}.
"""
import math

import numpy as np

from .attention import (ACTIVATIONS, BLOCK_KEYS, block_backward, block_forward, dense_backward,
                        dense_forward, embedding_backward, embedding_forward, layernorm_backward,
                        layernorm_forward, modulate_backward, modulate_forward)
from .checkpoint import (graph_arrays, graph_from_checkpoint, load_params, meta_array,
                         meta_from, read_checkpoint, write_checkpoint)
from .checks import check_choice, check_float, check_int, check_rng, check_tokens
from .graphs import Graph, _draw
from .model import sigma_features
from .nn import log_softmax_backward, log_softmax_forward, silu_backward, silu_forward, temper
from .score import (SB_FLOOR, _posterior_score_forward, check_length, check_score_input,
                    check_transition, posterior_score_backward)
from .threads import computing, uses_blas

FORMAT_VERSION = 1
DTYPES = {"float32": np.float32, "float64": np.float64}


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return np.dtype(name)


class _Trunk:
    """What both transformers share: embeddings, blocks, the final norm and the read-out.

    The trunk maps token ids (B, L) and modulations (per block (B or 1, 6, d), final
    (B or 1, 2, d)) to logits (B, L, n_out). Subclasses supply the modulations.
    """

    def _setup(self, vocab, d_model, n_heads, n_layers, mlp_ratio, activation, n_out, dtype, rng):
        self.d_model = check_int("d_model", d_model, low=1)
        self.n_heads = check_int("n_heads", n_heads, low=1)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be a multiple of n_heads, got d_model={self.d_model}, "
                             f"n_heads={self.n_heads}")
        self.n_layers = check_int("n_layers", n_layers, low=1)
        self.mlp_ratio = check_int("mlp_ratio", mlp_ratio, low=1)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.dtype = _check_dtype(dtype)
        rng = check_rng("rng", rng)
        d, r = self.d_model, self.mlp_ratio

        def normal(fan_in, shape, gain=1.0):      # N(0, gain^2 / fan_in): unit-scale outputs
            return rng.normal(0.0, gain / math.sqrt(fan_in), size=shape)

        p = {"tok_emb": rng.normal(0.0, math.sqrt(0.5), size=(vocab, d)),   # h0 has variance ~1
             "pos_emb": rng.normal(0.0, math.sqrt(0.5), size=(self.length, d))}
        for layer in range(self.n_layers):
            shapes = {"qkv_W": (d, 3 * d), "qkv_b": (3 * d,), "proj_W": (d, d), "proj_b": (d,),
                      "mlp_W1": (d, r * d), "mlp_b1": (r * d,), "mlp_W2": (r * d, d),
                      "mlp_b2": (d,)}
            for key in BLOCK_KEYS:
                shape = shapes[key]
                p[f"block{layer}_{key}"] = (normal(shape[0], shape) if len(shape) == 2
                                            else np.zeros(shape))
        # a small read-out starts the predicted distribution near uniform
        p["out_W"] = normal(d, (d, n_out), gain=0.1)
        p["out_b"] = np.zeros(n_out)
        self.params = p
        return rng                                # the subclass draws its own weights from it

    def _cast(self):
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def num_params(self):
        return sum(p.size for p in self.params.values())

    def _block_weights(self, layer):
        return {key: self.params[f"block{layer}_{key}"] for key in BLOCK_KEYS}

    def _trunk_forward(self, ids, mods, final_mod, causal):
        """ids (B, L) -> logits (B, L, n_out), in self.dtype."""
        p = self.params
        h, emb_cache = embedding_forward(ids, p["tok_emb"], p["pos_emb"])      # (B, L, d)
        block_caches = []
        for layer in range(self.n_layers):
            h, cache = block_forward(h, mods[layer], self._block_weights(layer), self.n_heads,
                                     causal, self.activation)
            block_caches.append(cache)
        y, ln_cache = layernorm_forward(h)
        z, mod_cache = modulate_forward(y, final_mod[:, 0], final_mod[:, 1])
        logits, out_cache = dense_forward(z, p["out_W"], p["out_b"])           # (B, L, n_out)
        return logits, (emb_cache, block_caches, ln_cache, mod_cache, out_cache)

    def _trunk_backward(self, dlogits, cache):
        """dlogits (B, L, n_out) -> (grads of the trunk's params, dmods, dfinal_mod)."""
        emb_cache, block_caches, ln_cache, mod_cache, out_cache = cache
        grads = {}
        dz, grads["out_W"], grads["out_b"] = dense_backward(dlogits, out_cache)
        dy, dshift, dscale = modulate_backward(dz, mod_cache)
        dfinal_mod = np.stack([dshift, dscale], axis=1)                        # (B or 1, 2, d)
        dh = layernorm_backward(dy, ln_cache)
        dmods = [None] * self.n_layers
        for layer in reversed(range(self.n_layers)):
            dh, dmods[layer], dw = block_backward(dh, block_caches[layer])
            for key in BLOCK_KEYS:
                grads[f"block{layer}_{key}"] = dw[key]
        _, grads["tok_emb"], grads["pos_emb"] = embedding_backward(dh, emb_cache)
        return grads, dmods, dfinal_mod

    def _settings(self):
        return [self.length, self.d_model, self.n_heads, self.n_layers, self.mlp_ratio]

    def _save(self, path, fmt, extra):
        arrays = {"format": np.array(fmt), "format_version": np.array(FORMAT_VERSION),
                  "settings": np.array(self._settings()), "activation": np.array(self.activation),
                  "dtype": np.array(self.dtype.name), "meta": meta_array(self.meta), **extra}
        write_checkpoint(path, arrays, self.params)

    def _fill(self, path, data):
        """Copy the stored parameters into this (freshly built) model, checking each."""
        self.meta = meta_from(data)
        load_params(self.params, data)


class ScoreTransformer(_Trunk):
    """Transformer score network for sequences of `length` tokens on `graph`.

    graph: a Graph; length: L; d_model: width d; n_heads: attention heads (d % n_heads == 0);
    n_layers: blocks; rng: None, an int seed or a Generator, for the initialization;
    dtype: np.float64 or np.float32 (parameters and activations; the posterior-to-score map
    and its gradient stay in float64); mlp_ratio: hidden width of the MLP in units of d;
    activation: "gelu" (tanh form) or "silu". params: dict name -> array. meta: JSON values
    stored with checkpoints.
    """

    FORMAT = "minisedd-scoretransformer"

    def __init__(self, graph, length, d_model=64, n_heads=4, n_layers=2, rng=None,
                 dtype=np.float64, mlp_ratio=4, activation="gelu"):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a minisedd Graph (Uniform, Absorbing or Graph(Q)), "
                            f"got {type(graph).__name__}")
        self.graph = graph
        self.length = check_length(length)
        n_clean = graph.n_clean                         # clean tokens the posterior ranges over
        rng = self._setup(graph.n, d_model, n_heads, n_layers, mlp_ratio, activation, n_clean,
                          dtype, rng)
        d, p = self.d_model, self.params
        p["cond_W0"] = rng.normal(0.0, 1.0 / math.sqrt(2), size=(2, d))   # noise features -> c
        p["cond_b0"] = np.zeros(d)
        p["cond_W1"] = rng.normal(0.0, 1.0 / math.sqrt(d), size=(d, d))
        p["cond_b1"] = np.zeros(d)
        for layer in range(self.n_layers):              # adaLN-Zero: every block starts as identity
            p[f"block{layer}_ada_W"] = np.zeros((d, 6 * d))
            p[f"block{layer}_ada_b"] = np.zeros(6 * d)
        p["final_ada_W"] = np.zeros((d, 2 * d))
        p["final_ada_b"] = np.zeros(2 * d)
        self._cast()
        self.meta = {}

    @uses_blas
    def forward(self, x_t, sigma_bar, transition=None):
        """x_t: int (B, L); sigma_bar: float or (B,) -> (log_s (B, L, n) float64, cache).

        transition: the kernels (B, n, n) of sigma_bar clipped at SB_FLOOR, when the caller has
        them already (train computes them once per step for the network and the loss), else None.
        """
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        if transition is not None:
            transition = check_transition(self.graph, transition, x_t.shape[0])
        return self._forward(x_t, np.maximum(sb, SB_FLOOR), transition)   # sigma_bar >= floor

    def _forward(self, x_t, sb, transition=None):
        """forward without the checks of its inputs, for train, which drew them itself:
        x_t int64 (B, L) of tokens in [0, n), sb float64 (B,) already clipped at SB_FLOOR."""
        p, B, d = self.params, x_t.shape[0], self.d_model
        feats = sigma_features(sb).astype(self.dtype)                  # (B, 2)
        z0, lin0 = dense_forward(feats, p["cond_W0"], p["cond_b0"])    # (B, d)
        a0, act0 = silu_forward(z0)
        c, lin1 = dense_forward(a0, p["cond_W1"], p["cond_b1"])        # (B, d) noise embedding
        sc, act1 = silu_forward(c)                                     # (B, d)
        mods, ada_caches = [], []
        for layer in range(self.n_layers):
            m, cache = dense_forward(sc, p[f"block{layer}_ada_W"], p[f"block{layer}_ada_b"])
            mods.append(m.reshape(B, 6, d))                            # (B, 6, d)
            ada_caches.append(cache)
        fm, final_cache = dense_forward(sc, p["final_ada_W"], p["final_ada_b"])
        logits, trunk_cache = self._trunk_forward(x_t, mods, fm.reshape(B, 2, d), causal=False)
        # the posterior-to-score map in float64: ratios of small probabilities need the digits
        log_pi, ls_cache = log_softmax_forward(logits.astype(np.float64))   # (B, L, n_clean)
        pi = np.exp(log_pi)                                            # (B, L, n_clean)
        P = self.graph._transition(sb) if transition is None else transition   # (B, n, n)
        log_s, ps_cache = _posterior_score_forward(pi, P, x_t, self.graph)   # (B, L, n)
        cache = (lin0, act0, lin1, act1, ada_caches, final_cache, trunk_cache, ls_cache, pi,
                 ps_cache)
        return log_s, cache

    @uses_blas
    def backward(self, dlog_s, cache):
        """dlog_s (B, L, n) -> grads, a dict with the keys (and dtypes) of params."""
        (lin0, act0, lin1, act1, ada_caches, final_cache, trunk_cache, ls_cache, pi,
         ps_cache) = cache
        B = dlog_s.shape[0]
        dpi = posterior_score_backward(dlog_s, ps_cache)               # (B, L, n_clean)
        dlog_pi = dpi * pi                                             # pi = exp(log_pi)
        dlogits = log_softmax_backward(dlog_pi, ls_cache).astype(self.dtype)
        grads, dmods, dfm = self._trunk_backward(dlogits, trunk_cache)
        dsc, grads["final_ada_W"], grads["final_ada_b"] = dense_backward(dfm.reshape(B, -1),
                                                                         final_cache)
        for layer in range(self.n_layers):                             # sc fans out to every block
            dsc_l, grads[f"block{layer}_ada_W"], grads[f"block{layer}_ada_b"] = dense_backward(
                dmods[layer].reshape(B, -1), ada_caches[layer])
            dsc += dsc_l
        dc = silu_backward(dsc, act1)
        da0, grads["cond_W1"], grads["cond_b1"] = dense_backward(dc, lin1)
        dz0 = silu_backward(da0, act0)
        _, grads["cond_W0"], grads["cond_b0"] = dense_backward(dz0, lin0)
        return grads

    @uses_blas
    def log_score(self, x_t, sigma_bar):
        """Log concrete scores (B, L, n) of x_t (B, L) at total noise sigma_bar (B,)."""
        return self.forward(x_t, sigma_bar)[0]

    @uses_blas
    def posterior(self, x_t, sigma_bar):
        """The network's estimate pi_i(v) of p(x0_i = v | x_{-i}), (B, L, n_clean), float64.

        As for ScoreMLP.posterior: the network also sees x_i itself, which the true posterior
        ignores; training removes the dependence wherever DSE weights the score.
        """
        log_s, cache = self.forward(x_t, sigma_bar)
        return cache[8]                                                # pi, kept for backward

    def save(self, path):
        """Write an .npz checkpoint (no pickles): format, version, graph, settings, params, meta."""
        self._save(path, self.FORMAT, graph_arrays(self.graph))

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by save; a clear ValueError for anything else."""
        path, data, _ = read_checkpoint(path, cls.FORMAT, "ScoreTransformer", (FORMAT_VERSION,))
        try:
            graph = graph_from_checkpoint(data)
            length, d_model, n_heads, n_layers, mlp_ratio = (int(v) for v in data["settings"])
            model = cls(graph, length, d_model, n_heads, n_layers, rng=0,
                        dtype=DTYPES[str(data["dtype"])], mlp_ratio=mlp_ratio,
                        activation=str(data["activation"]))
            model._fill(path, data)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: {err}") from None
        return model

    def __repr__(self):
        return (f"ScoreTransformer({self.graph!r}, length={self.length}, d_model={self.d_model}, "
                f"n_heads={self.n_heads}, n_layers={self.n_layers}, dtype={self.dtype.name}, "
                f"params={self.num_params()})")


class CausalTransformer(_Trunk):
    """Autoregressive transformer: p(x) = prod_i p(x_i | x_{<i}) over n_symbols tokens.

    n_symbols: vocabulary size n; length: L; the other settings as ScoreTransformer. The input
    at position i is x_{i-1}, at position 0 a learned start token (embedding row n), and a
    causal mask keeps position i from seeing anything later, so output i depends on x_{<i}.

    end_id: None, or the id of an end marker after which a row is padding (the surnames use
    0). With an end marker, a row's probability is prod_{i < T} p(x_i | x_{<i}), T = the first
    end position + 1 (L without one): the padding after it is certain once the word has ended,
    costs nothing, is left out of the loss and is filled in when sampling; a row with a
    non-end token after its end has probability 0. The methods loss, log_likelihood,
    nll_per_char and sample follow MADE's (autoregressive.py), so one trainer serves both.
    """

    FORMAT = "minisedd-causaltransformer"

    def __init__(self, n_symbols, length, d_model=64, n_heads=4, n_layers=2, rng=None,
                 dtype=np.float64, mlp_ratio=4, activation="gelu", end_id=None):
        self.n = check_int("n_symbols", n_symbols, low=2)
        self.length = check_length(length)
        self.end_id = None if end_id is None else check_int("end_id", end_id, low=0,
                                                             high=self.n - 1)
        self._setup(self.n + 1, d_model, n_heads, n_layers, mlp_ratio, activation, self.n,
                    dtype, rng)
        d = self.d_model
        for layer in range(self.n_layers):   # constant modulation; gates 0: blocks are identities
            self.params[f"block{layer}_mod"] = np.zeros((6, d))
        self.params["final_mod"] = np.zeros((2, d))
        self._cast()
        self.meta = {}

    def _check_rows(self, name, x):
        x = check_tokens(name, x, self.n, ndim=2)
        if x.shape[1] != self.length:
            raise ValueError(f"{name} must have shape (B, {self.length}), got {x.shape}")
        return x

    def _counted(self, x):
        """bool (B, L): the positions that carry probability (i < T; all without end_id)."""
        if self.end_id is None:
            return np.ones(x.shape, dtype=bool)
        ended = x == self.end_id                                       # (B, L)
        T = np.where(ended.any(axis=1), ended.argmax(axis=1) + 1, x.shape[1])   # (B,)
        return np.arange(x.shape[1])[None, :] < T[:, None]

    def _wellformed(self, x):
        """bool (B,): no non-end token after the first end marker (always True without one)."""
        if self.end_id is None:
            return np.ones(x.shape[0], dtype=bool)
        after = np.cumsum(x == self.end_id, axis=1) > 0                # (B, L) at or after the end
        return ~np.any(after & (x != self.end_id), axis=1)

    @uses_blas
    def forward(self, x):
        """x: int (B, L) -> (log_probs (B, L, n) float64, cache);
        log_probs[b, i, v] = log p(x_i = v | x_{<i}), at every position."""
        x = self._check_rows("x", x)
        start = np.full((x.shape[0], 1), self.n)                       # the start token's id
        ids = np.concatenate([start, x[:, :-1]], axis=1)               # (B, L) shifted right
        mods = [self.params[f"block{layer}_mod"][None] for layer in range(self.n_layers)]
        logits, trunk_cache = self._trunk_forward(ids, mods, self.params["final_mod"][None],
                                                  causal=True)
        log_probs, ls_cache = log_softmax_forward(logits.astype(np.float64))   # (B, L, n)
        return log_probs, (trunk_cache, ls_cache)

    @uses_blas
    def backward(self, dlog_probs, cache):
        """dlog_probs (B, L, n) -> grads, a dict with the keys (and dtypes) of params."""
        trunk_cache, ls_cache = cache
        dlogits = log_softmax_backward(dlog_probs, ls_cache).astype(self.dtype)
        grads, dmods, dfm = self._trunk_backward(dlogits, trunk_cache)
        for layer in range(self.n_layers):
            grads[f"block{layer}_mod"] = dmods[layer][0]               # shared by the batch
        grads["final_mod"] = dfm[0]
        return grads

    @uses_blas
    def loss(self, x):
        """Negative log-likelihood per counted token of a batch, and its gradient.

        x int (B, L) -> (loss float, dlog_probs (B, L, n), cache), with
        loss = -sum_b sum_{counted i} log_probs[b, i, x_bi] / (number of counted positions).
        """
        x = self._check_rows("x", x)
        log_probs, cache = self.forward(x)
        counted = self._counted(x)                                     # (B, L)
        total = counted.sum()
        picked = np.take_along_axis(log_probs, x[:, :, None], axis=2)[:, :, 0]   # (B, L)
        loss = -float(np.sum(picked * counted)) / total
        dlog_probs = np.zeros_like(log_probs)                          # (B, L, n)
        weight = -counted.astype(np.float64) / total                   # (B, L)
        np.put_along_axis(dlog_probs, x[:, :, None], weight[:, :, None], axis=2)
        return loss, dlog_probs, cache

    def log_likelihood(self, x, batch_size=4096, temperature=1.0):
        """Exact log p(x) in nats, (B,) float64; -inf for a row with a token after its end.
        temperature: of the model that sample(..., temperature) draws from (nn.temper)."""
        x = self._check_rows("x", x)
        batch_size = check_int("batch_size", batch_size, low=1)
        temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        out = np.empty(len(x))
        with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
            for s in range(0, len(x), batch_size):
                rows = x[s:s + batch_size]
                log_probs = temper(self.forward(rows)[0], temperature)   # (b, L, n)
                picked = np.take_along_axis(log_probs, rows[:, :, None], axis=2)[:, :, 0]
                out[s:s + batch_size] = np.sum(picked * self._counted(rows), axis=1)
        return np.where(self._wellformed(x), out, -np.inf)

    def nll_per_char(self, x):
        """-sum log p(x) / (number of counted positions), nats per token (a float)."""
        x = self._check_rows("x", x)
        return float(-self.log_likelihood(x).sum() / self._counted(x).sum())

    def sample(self, num, rng=None, temperature=1.0):
        """Ancestral sampling: x_0, then x_1 given x_0, ...; int (num, L); after an end, padding.

        One forward pass per position (the input after position i does not affect output i).
        temperature: each token from its conditional to the power 1/T, renormalized
        (nn.temper); 1 samples the model itself.
        """
        num = check_int("num", num, low=1)
        rng = check_rng("rng", rng)
        temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        fill = 0 if self.end_id is None else self.end_id
        x = np.full((num, self.length), fill, dtype=np.int64)
        done = np.zeros(num, dtype=bool)
        with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
            for i in range(self.length):
                log_probs = temper(self.forward(x)[0][:, i], temperature)   # (num, n)
                draw = _draw(np.exp(log_probs), rng)                   # (num,)
                x[:, i] = np.where(done, fill, draw)
                if self.end_id is not None:
                    done |= draw == self.end_id
        return x

    def _settings(self):
        return [self.n, -1 if self.end_id is None else self.end_id] + super()._settings()

    def save(self, path):
        """Write an .npz checkpoint (no pickles): format, version, settings, params, meta."""
        self._save(path, self.FORMAT, {})

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by save; a clear ValueError for anything else."""
        path, data, _ = read_checkpoint(path, cls.FORMAT, "CausalTransformer", (FORMAT_VERSION,))
        try:
            n, end_id, length, d_model, n_heads, n_layers, mlp_ratio = (
                int(v) for v in data["settings"])
            model = cls(n, length, d_model, n_heads, n_layers, rng=0,
                        dtype=DTYPES[str(data["dtype"])], mlp_ratio=mlp_ratio,
                        activation=str(data["activation"]),
                        end_id=None if end_id < 0 else end_id)
            model._fill(path, data)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: {err}") from None
        return model

    def __repr__(self):
        return (f"CausalTransformer(n_symbols={self.n}, length={self.length}, "
                f"d_model={self.d_model}, n_heads={self.n_heads}, n_layers={self.n_layers}, "
                f"end_id={self.end_id}, dtype={self.dtype.name}, params={self.num_params()})")
