"""ScoreMLP: a small score network with a hand-written backward pass, and its checkpoints.

    x_t (B, L) --embedding--> (B, hidden) --+
    sigma_bar (B,) --features--> (B, 2) --linear--+--> act --> MLP --> logits (B, L, n_clean)
    --log-softmax--> log pi --exp--> pi --(pi P)_y / (pi P)_{x_i}--> log-scores (B, L, n)

The first layer is a linear layer on the one-hot input (B, L*n) and the two noise features:
its weight W0 has L*n + 2 rows. A one-hot row times W0 is a sum of rows of W0, one per
position, so the token part is computed as an embedding lookup (nn.embedding_forward) and
the two feature rows as their own small product; the result equals the one-hot product.

The MLP sees every position at once, so positions interact: pi_i may depend on all of
x_t. It predicts a distribution pi_i over the n_clean clean tokens (n_clean = n, or n - 1 for
the absorbing graph, whose mask token is never clean), and the graph's kernel
P = expm(sigma_bar Q) turns it into the concrete score (see score.py). The self entry s[i, x_i] is 1 by
construction. For the absorbing graph this is the normalized parameterization
log s_y = log pi_i(y) - log expm1(sigma_bar) at masked positions.
"""
import numpy as np

from .checkpoint import (graph_arrays, graph_from_checkpoint, load_params, meta_array,
                         meta_from, read_checkpoint, write_checkpoint)
from .checks import check_choice, check_int, check_rng
from .graphs import Graph
from .nn import (ACTIVATIONS, MLP, _log_softmax_backward, check_dtype, embedding_backward,
                 embedding_forward, log_softmax_backward, log_softmax_forward)
from .score import (SB_FLOOR, _posterior_score_forward, check_length, check_score_input,
                    check_transition, posterior_score_backward)
from .threads import uses_blas

FORMAT = "minisedd-scoremlp"
FLOAT32_FLOOR = -69.0   # log of the smallest (pi P)_y a float32 score map is trusted with
FORMAT_VERSION = 3     # 3: the parameters' dtype is stored; 2 (read as float64) did not;
                       # version 1 also held a seed


def sigma_features(sb):
    """Features of the noise level fed to the network: (B,) -> (B, 2).

    e^{-sb} is the probability that a token has not jumped yet (the posterior of the
    uniform graph depends on sb through it alone); log1p(sb) spreads large noise levels.
    """
    sb = np.asarray(sb)
    if sb.ndim != 1 or not np.issubdtype(sb.dtype, np.floating) or not (sb >= 0).all():
        raise ValueError(f"sb must be a 1-D float array (B,) of noise levels >= 0 (no NaN), got "
                         f"{sb.dtype} of shape {sb.shape}")
    return np.stack([np.exp(-sb), np.log1p(sb)], axis=1)


class ScoreMLP:
    """Score network for sequences of `length` tokens on `graph`.

    graph: a Graph (Uniform, Absorbing or any Graph(Q)); length: L.
    hidden, depth: width and number of hidden layers of the MLP; activation: "silu" or "relu".
    rng: the initialization's randomness (None: fresh entropy, an int seed, or a
    np.random.Generator). dtype: np.float64 (the default; gradient checks need it) or
    np.float32 (about twice as fast to train; the same initial draws, rounded).
    params: dict name -> array of `dtype` (the MLP's weights).
    n_clean: the number of clean tokens the posterior ranges over.
    meta: a dict of JSON values stored with checkpoints (the command line keeps the
    vocabulary and noise schedule there).
    """

    def __init__(self, graph, length, hidden=128, depth=2, rng=None, activation="silu",
                 dtype=np.float64):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a minisedd Graph (Uniform, Absorbing or Graph(Q)), "
                            f"got {type(graph).__name__}")
        self.graph = graph
        self.length = check_length(length)
        self.hidden = check_int("hidden", hidden, low=1)
        self.depth = check_int("depth", depth, low=1)
        rng = check_rng("rng", rng)
        self.activation = check_choice("activation", activation, {"silu", "relu"})
        self.dtype = check_dtype("dtype", dtype)
        self.n_clean = graph.n_clean                   # clean tokens the posterior ranges over
        sizes = ([self.length * graph.n + 2] + [self.hidden] * self.depth
                 + [self.length * self.n_clean])
        # a small last layer starts pi near uniform, so the first scores are sensible
        self.net = MLP(sizes, self.activation, rng, out_scale=0.1, dtype=self.dtype)
        self.meta = {}

    @property
    def params(self):
        """The trainable arrays, dict name -> array of self.dtype (updated in place by Adam)."""
        return self.net.params

    def num_params(self):
        return sum(p.size for p in self.params.values())

    # -- forward / backward ------------------------------------------------------
    @uses_blas
    def forward(self, x_t, sigma_bar, transition=None):
        """x_t: int (B, L); sigma_bar: (B,) -> (log_s (B, L, n), cache).

        transition: the kernels P (B, n, n) of sigma_bar (clipped at SB_FLOOR), when the caller
        has them already (train shares them with the loss); None computes them here.
        """
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        if transition is not None:
            transition = check_transition(self.graph, transition, x_t.shape[0])
        return self._forward(x_t, np.maximum(sb, SB_FLOOR), transition)   # sigma_bar >= floor

    def _forward(self, x_t, sb, transition=None):
        """forward without the checks of its inputs, for train, which drew them itself:
        x_t int64 (B, L) of tokens in [0, n), sb float64 (B,) already clipped at SB_FLOOR."""
        B, L, n, n_clean = x_t.shape[0], self.length, self.graph.n, self.n_clean
        W0, b0 = self.params["W0"], self.params["b0"]
        W_tok = W0[:L * n].reshape(L, n, self.hidden)                 # rows of the one-hot input
        W_feat = W0[L * n:]                                           # (2, hidden): the features'
        # layer 0, [one-hot(x_t), feats] @ W0 + b0, without building the one-hot input
        emb, emb_cache = embedding_forward(x_t, W_tok)                # (B, hidden)
        feats = sigma_features(sb).astype(self.dtype)                 # (B, 2)
        z0 = emb + feats @ W_feat + b0                                # (B, hidden)
        act_forward, _ = ACTIVATIONS[self.activation]
        h0, act_cache = act_forward(z0)                               # (B, hidden)
        logits, net_cache = self.net.forward(h0, start=1)             # (B, L*n_clean)
        log_pi, ls_cache = log_softmax_forward(logits.reshape(B, L, n_clean))  # (B, L, n_clean)
        pi = np.exp(log_pi)                                           # (B, L, n_clean)
        if pi.dtype == np.float32 and self._too_small_for_float32(log_pi, x_t, sb):
            pi = np.exp(log_pi.astype(np.float64))   # this batch's score map in float64
        P = self.graph._transition(sb) if transition is None else transition   # (B, n, n)
        log_s, ps_cache = _posterior_score_forward(pi, P, x_t, self.graph)      # (B, L, n)
        cache = (emb_cache, feats, act_cache, net_cache, ls_cache, pi, ps_cache)
        return log_s, cache

    def _too_small_for_float32(self, log_pi, x_t, sb):
        """Whether a float32 score map would lose a probability that the loss reads.

        The map forms (pi P)_y = e^{-sb} pi(y) for a clean y (absorbing and general graphs) and
        divides by it in the backward pass. Below about e^-87, float32 rounds it to a subnormal
        number or to 0: a network sure that a token is wrong would then get log 0 = inf as its
        loss, for a finite probability, and training would stop. Down to e^-69 (FLOAT32_FLOOR)
        the backward division keeps a wide margin. float64 reaches e^-745, so a batch with a
        smaller entry takes its posterior and score map in float64 (as ScoreTransformer always
        does); every other batch stays in float32, unchanged. On the uniform graph
        (pi P)_y >= (1 - e^{-sb}) / n is never small; on the absorbing graph only masked
        positions carry loss.
        """
        if self.graph.kind == "uniform":
            return False
        # the smallest entry anywhere, less the largest sb, is above the floor: then so is every
        # entry (rounding is monotonic), and the check per position below is not needed (a NaN
        # fails this comparison and takes the check per position, as before)
        if log_pi.size == 0 or log_pi.min() - sb.max() >= FLOAT32_FLOOR:
            return False
        low = log_pi.min(axis=-1) - sb[:, None] < FLOAT32_FLOOR            # (B, L)
        if self.graph.kind == "absorbing":
            low &= x_t == self.graph.mask_id
        return bool(low.any())

    @uses_blas
    def backward(self, dlog_s, cache):
        """dlog_s (B, L, n) -> grads, a dict with the keys of params (arrays of self.dtype)."""
        emb_cache, feats, act_cache, net_cache, ls_cache, pi, ps_cache = cache
        B, L, n = dlog_s.shape[0], self.length, self.graph.n
        dlog_s = dlog_s.astype(self.dtype, copy=False)
        dpi = posterior_score_backward(dlog_s, ps_cache)              # (B, L, n_clean)
        dlog_pi = dpi * pi                                            # pi = exp(log_pi)
        if pi.dtype == ls_cache.dtype:   # pi is the softmax np.exp(log_pi) already: not redone
            dlogits = _log_softmax_backward(dlog_pi, pi)
        else:                            # pi was recomputed in float64 (_too_small_for_float32)
            dlogits = log_softmax_backward(dlog_pi, ls_cache)
        dlogits = dlogits.astype(self.dtype, copy=False)
        dh0, grads = self.net.backward(dlogits.reshape(B, -1), net_cache)
        _, act_backward = ACTIVATIONS[self.activation]
        dz0 = act_backward(dh0, act_cache)                            # (B, hidden)
        demb = dz0                                                    # z0 = emb + feats W_feat + b0
        dW_feat = feats.T @ dz0                                       # (2, hidden)
        grads["b0"] = dz0.sum(axis=0)                                 # (hidden,)
        dW_tok = embedding_backward(demb, emb_cache)                  # (L, n, hidden)
        grads["W0"] = np.concatenate([dW_tok.reshape(L * n, -1), dW_feat])   # the rows of W0
        return grads

    @uses_blas
    def log_score(self, x_t, sigma_bar):
        """Log concrete scores (B, L, n) of x_t (B, L) at total noise sigma_bar (B,)."""
        return self.forward(x_t, sigma_bar)[0]

    @uses_blas
    def posterior(self, x_t, sigma_bar):
        """The network's estimate pi_i(v) of p(x0_i = v | x_{-i}), (B, L, n_clean).

        The network also sees x_i itself; the true posterior ignores it. For an invertible
        kernel the score determines pi, so at the optimum the dependence on x_i vanishes wherever
        DSE weights the score (every position on the uniform graph, the masked ones on the
        absorbing graph). At an unmasked absorbing position pi_i is unconstrained and unused.
        A float32 model returns float32, or float64 for a batch whose score map needed float64
        (see _too_small_for_float32).
        """
        log_s, cache = self.forward(x_t, sigma_bar)
        return cache[5]

    # -- checkpoints ---------------------------------------------------------------
    def save(self, path):
        """Write an .npz checkpoint (no pickles): format, version, graph, settings, params, meta."""
        arrays = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            **graph_arrays(self.graph),
            "settings": np.array([self.length, self.hidden, self.depth]),
            "activation": np.array(self.activation),
            "dtype": np.array(self.dtype.name),
            "meta": meta_array(self.meta),
        }
        write_checkpoint(path, arrays, self.params)

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by save (format version 2 or 3); a clear ValueError for
        anything else (see checkpoint.py)."""
        path, data, version = read_checkpoint(path, FORMAT, "ScoreMLP", (2, FORMAT_VERSION))
        try:
            graph = graph_from_checkpoint(data)
            length, hidden, depth = (int(v) for v in data["settings"])
            # the initialization is overwritten by the stored parameters: any seed will do
            dtype = str(data["dtype"]) if version >= 3 else "float64"
            if dtype not in ("float64", "float32"):
                raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
            model = cls(graph, length, hidden, depth, rng=0, activation=str(data["activation"]),
                        dtype=dtype)
            model.meta = meta_from(data)
            load_params(model.params, data)
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: {err}") from None
        return model

    def __repr__(self):
        dtype = "" if self.dtype == np.float64 else f", dtype={self.dtype.name}"
        return (f"ScoreMLP({self.graph!r}, length={self.length}, hidden={self.hidden}, "
                f"depth={self.depth}, params={self.num_params()}{dtype})")
