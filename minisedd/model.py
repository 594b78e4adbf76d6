"""ScoreMLP: a small score network with a hand-written backward pass, and its checkpoints.

    x_t (B, L) --one-hot--> (B, L*n) --+
    sigma_bar (B,) --features--> (B, 2) --+--> MLP --> logits (B, L, K) --log-softmax--> log pi
    log pi --exp--> pi --(pi P)_y / (pi P)_{x_i}--> log-scores (B, L, n)

The MLP sees every position at once, so positions interact: pi_i may depend on all of
x_t. It predicts a distribution pi_i over the K clean tokens (K = n, or n - 1 for the
absorbing graph, whose MASK is never clean), and the graph's kernel P = expm(sigma_bar Q)
turns it into the concrete score (see score.py). The self entry s[i, x_i] is 1 by
construction. For the absorbing graph this is the normalized parameterization
log s_y = log pi_i(y) - log expm1(sigma_bar) at masked positions.
"""
import json
import os

import numpy as np

from .checks import check_choice, check_int
from .graphs import Absorbing, Graph, Uniform
from .nn import MLP, log_softmax_backward, log_softmax_forward
from .score import (SB_FLOOR, check_length, check_score_input, posterior_score_backward,
                    posterior_score_forward)

FORMAT = "minisedd-scoremlp"
FORMAT_VERSION = 1


def sigma_features(sb):
    """Features of the noise level fed to the network: (B,) -> (B, 2).

    e^{-sb} is the probability that a token has not jumped yet (the posterior of the
    uniform graph depends on sb through it alone); log1p(sb) spreads large noise levels.
    """
    return np.stack([np.exp(-sb), np.log1p(sb)], axis=1)


class ScoreMLP:
    """Score network for sequences of `length` tokens on `graph`.

    graph: a Graph (Uniform, Absorbing or any Graph(Q)); length: L.
    hidden, depth: width and number of hidden layers of the MLP; activation: "silu" or "relu".
    seed: seeds the initialization. params: dict name -> float64 array (the MLP's weights).
    meta: a dict of JSON values stored with checkpoints (the command line keeps the
    vocabulary and noise schedule there).
    """

    def __init__(self, graph, length, hidden=128, depth=2, seed=0, activation="silu"):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a minisedd Graph (Uniform, Absorbing or Graph(Q)), "
                            f"got {type(graph).__name__}")
        self.graph = graph
        self.length = check_length(length)
        self.hidden = check_int("hidden", hidden, low=1)
        self.depth = check_int("depth", depth, low=1)
        self.seed = check_int("seed", seed, low=0)
        self.activation = check_choice("activation", activation, {"silu", "relu"})
        self.K = graph.data_tokens                     # clean tokens the posterior ranges over
        sizes = [self.length * graph.n + 2] + [self.hidden] * self.depth + [self.length * self.K]
        # a small last layer starts pi near uniform, so the first scores are sensible
        self.net = MLP(sizes, self.activation, np.random.default_rng(self.seed), out_scale=0.1)
        self.meta = {}

    @property
    def params(self):
        """The trainable arrays, dict name -> float64 array (updated in place by Adam)."""
        return self.net.params

    def num_params(self):
        return sum(p.size for p in self.params.values())

    # -- forward / backward ------------------------------------------------------
    def forward(self, x_t, sigma_bar):
        """x_t: int (B, L); sigma_bar: (B,) -> (log_s (B, L, n), cache)."""
        x_t, sb = check_score_input(self, x_t, sigma_bar)
        B, L, n, K = x_t.shape[0], self.length, self.graph.n, self.K
        sb = np.maximum(sb, SB_FLOOR)                                 # sigma_bar(t) >= floor
        onehot = np.zeros((B, L, n))
        np.put_along_axis(onehot, x_t[:, :, None], 1.0, axis=2)      # (B, L, n)
        inp = np.concatenate([onehot.reshape(B, L * n), sigma_features(sb)], axis=1)
        logits, net_cache = self.net.forward(inp)                     # (B, L*K)
        log_pi, ls_cache = log_softmax_forward(logits.reshape(B, L, K))   # (B, L, K)
        pi = np.exp(log_pi)                                           # (B, L, K)
        P = self.graph.kernel(sb)                                     # (B, n, n)
        log_s, ps_cache = posterior_score_forward(pi, P, x_t)         # (B, L, n)
        return log_s, (net_cache, ls_cache, pi, ps_cache)

    def backward(self, dlog_s, cache):
        """dlog_s (B, L, n) -> grads, a dict with the keys of params."""
        net_cache, ls_cache, pi, ps_cache = cache
        B = dlog_s.shape[0]
        dpi = posterior_score_backward(dlog_s, ps_cache)              # (B, L, K)
        dlog_pi = dpi * pi                                            # pi = exp(log_pi)
        dlogits = log_softmax_backward(dlog_pi, ls_cache)             # (B, L, K)
        _, grads = self.net.backward(dlogits.reshape(B, -1), net_cache)
        return grads

    def log_score(self, x_t, sigma_bar):
        """Log concrete scores (B, L, n) of x_t (B, L) at total noise sigma_bar (B,)."""
        return self.forward(x_t, sigma_bar)[0]

    def posterior(self, x_t, sigma_bar):
        """The network's estimate pi_i(v) of p(x0_i = v | x_{-i}), (B, L, K).

        The network also sees x_i itself; the true posterior ignores it, and for an invertible
        kernel the score determines pi, so at the optimum the dependence on x_i vanishes.
        """
        log_s, cache = self.forward(x_t, sigma_bar)
        return cache[2]

    # -- checkpoints ---------------------------------------------------------------
    def save(self, path):
        """Write an .npz checkpoint (no pickles): format, version, graph, settings, params, meta."""
        try:
            meta = json.dumps(self.meta)
        except (TypeError, ValueError) as err:
            raise TypeError(f"meta must hold JSON values (str, numbers, lists, dicts): "
                            f"{err}") from None
        arrays = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            "graph_kind": np.array(self.graph.kind),
            "graph_Q": np.asarray(self.graph.Q),
            "settings": np.array([self.length, self.hidden, self.depth, self.seed]),
            "activation": np.array(self.activation),
            "meta": np.array(meta),
        }
        for name, p in self.params.items():
            arrays["param_" + name] = p
        with open(path, "wb") as f:    # a file object: np.savez would add ".npz" to a bare path
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by save; a clear ValueError for anything else."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"path {path!r} is not a file")
        # the file is untrusted: any failure to parse it becomes a ValueError naming the path
        # (a damaged zip raises BadZipFile, EOFError, RuntimeError, NotImplementedError, ...)
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"PK\x03\x04":                  # every .npz is a zip archive
            raise ValueError(f"path {path!r} is not a minisedd checkpoint: not an .npz (zip) archive")
        try:
            with open(path, "rb") as handle:       # our handle, closed even if np.load fails
                f = np.load(handle, allow_pickle=False)
                if not hasattr(f, "files"):        # np.load of a plain .npy gives one array
                    raise ValueError("it holds a single .npy array, not an .npz archive")
                with f:
                    data = {k: f[k] for k in f.files}
        except Exception as err:
            raise ValueError(f"path {path!r} is not a readable minisedd checkpoint (.npz): "
                             f"{type(err).__name__}: {err}") from None
        if "format" not in data or str(data["format"]) != FORMAT:
            raise ValueError(f"path {path!r} is not a minisedd ScoreMLP checkpoint "
                             f"(no '{FORMAT}' format tag)")
        try:
            version = int(data["format_version"])
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: no readable "
                             f"format_version") from None
        if version != FORMAT_VERSION:
            raise ValueError(f"path {path!r} has checkpoint format version {version}; this "
                             f"minisedd reads version {FORMAT_VERSION}")
        try:
            kind = str(data["graph_kind"])
            Q = data["graph_Q"]
            graph = {"uniform": lambda: Uniform(Q.shape[0]),
                     "absorbing": lambda: Absorbing(Q.shape[0])}.get(kind, lambda: Graph(Q))()
            if not np.array_equal(graph.Q, Q):
                raise ValueError("the stored rate matrix does not match its graph kind")
            length, hidden, depth, seed = (int(v) for v in data["settings"])
            model = cls(graph, length, hidden, depth, seed, str(data["activation"]))
            model.meta = json.loads(str(data["meta"]))
            for name, p in model.params.items():
                stored = data["param_" + name]
                if stored.shape != p.shape or stored.dtype != np.float64:
                    raise ValueError(f"parameter {name} has shape {stored.shape}, expected {p.shape}")
                p[...] = stored
            extra = {k for k in data if k.startswith("param_")} - {"param_" + k for k in model.params}
            if extra:
                raise ValueError(f"unexpected parameters {sorted(extra)}")
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: {err}") from None
        if not all(np.isfinite(p).all() for p in model.params.values()):
            raise ValueError(f"path {path!r} holds non-finite parameters")
        return model

    def __repr__(self):
        return (f"ScoreMLP({self.graph!r}, length={self.length}, hidden={self.hidden}, "
                f"depth={self.depth}, params={self.num_params()})")
