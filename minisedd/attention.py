"""The layers of a transformer, as forward/backward pairs (used by transformer.py).

    tokens (B, L) --embedding + position--> h (B, L, d)
    per block:   h = h + gate_a * Attention(modulate(LayerNorm(h), shift_a, scale_a))
                 h = h + gate_m * MLP(modulate(LayerNorm(h), shift_m, scale_m))

Each ``*_forward(...)`` returns ``(out, cache)``; each ``*_backward(dout, cache)`` returns the
gradients with respect to the inputs, in the order of the inputs. Activations keep the dtype of
their inputs (float32 or float64): constants are Python floats, which never promote an array.
tests/test_transformer.py checks every pair against centred finite differences.

Shapes: B batch, L positions, d = d_model features, H heads of d_head = d / H features each.
"""
import math

import numpy as np
import scipy.sparse

from .checks import check_tokens
from .nn import silu_backward, silu_forward

LN_EPS = 1e-5   # added to the variance in layer norm: a constant row has variance 0


def _plus(out, b):
    """out + b, written into out when that gives the same shape and dtype (no second array)."""
    if (np.result_type(out, b) == out.dtype
            and np.broadcast_shapes(out.shape, np.shape(b)) == out.shape):
        out += b
        return out
    return out + b


# -- token and position embedding --------------------------------------------
def embedding_forward(x, E, pos):
    """h[b, i] = E[x[b, i]] + pos[i].

    x: int (B, L) token ids; E: (n, d) one row per token; pos: (L_max, d) one row per position,
    L <= L_max. Returns h (B, L, d). A one-hot row times E is the row of E it selects, so the
    lookup E[x] is the matrix product onehot(x) E without building the one-hot.
    """
    x = check_tokens("x", x, E.shape[0], ndim=2)  # a negative id would pick a row from the end
    L = x.shape[1]
    h = E[x] + pos[None, :L]                                   # (B, L, d)
    return h, (x, E.shape, pos.shape)


def embedding_backward(dh, cache):
    """dh (B, L, d) -> (None for x, dE (n, d), dpos (L_max, d)).

    d/dE of onehot(x) E is onehot(x)^T dh: every occurrence of token v adds its dh to row v, a
    scatter-add. np.add.at(dE, x, dh) says it directly (dE[x] += dh would keep only one of
    repeated indices); the product with the one-hot matrix kept sparse (B*L ones, as in
    nn.embedding_backward) adds the same rows in the same order, 10x faster.
    Each position's row receives the sum of its dh over the batch.
    """
    x, E_shape, pos_shape = cache
    x = check_tokens("x", x, E_shape[0], ndim=2)  # the sparse matrix cannot hold a bad id
    L = x.shape[1]
    rows = x.size
    onehot_t = scipy.sparse.csc_matrix(           # (n, B*L): column r has its 1 at row x_r
        (np.ones(rows, dtype=dh.dtype), x.reshape(-1), np.arange(rows + 1)),
        shape=(E_shape[0], rows))
    dE = np.asarray(onehot_t @ dh.reshape(rows, dh.shape[-1]))
    dpos = np.zeros(pos_shape, dtype=dh.dtype)
    dpos[:L] = dh.sum(axis=0)
    return None, dE, dpos


# -- layer norm and its adaptive scale and shift -------------------------------
def layernorm_forward(x):
    """y = (x - mean(x)) / sqrt(var(x) + LN_EPS) over the last axis, without an affine map.

    x: (..., d) -> y (..., d): every row has mean 0 and variance ~1.
    """
    mu = x.mean(axis=-1, keepdims=True)                        # (..., 1)
    xc = x - mu                                                # (..., d)
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + LN_EPS)   # (..., 1)
    y = xc * rstd                                              # (..., d)
    return y, (y, rstd)


def layernorm_backward(dy, cache):
    """dy (..., d) -> dx (..., d).

    With y = (x - mu) r, r = (var + eps)^{-1/2}: dy_j/dx_k = r (delta_jk - 1/d - y_j y_k / d),
    so dx = r (dy - mean(dy) - y mean(dy y)). The two means remove what moving every entry
    together (the mean) and stretching the row (the variance) would change.
    """
    y, rstd = cache
    dx = rstd * (dy - dy.mean(axis=-1, keepdims=True)
                 - y * (dy * y).mean(axis=-1, keepdims=True))
    return dx


def modulate_forward(y, shift, scale):
    """out = y (1 + scale) + shift: the affine map of an adaptive layer norm.

    y: (B, L, d); shift, scale: (B, d) (one per sequence, from the noise level) or (1, d)
    (learned constants). Returns out (B, L, d). scale = shift = 0 leaves y unchanged.
    """
    out = _plus(y * (1.0 + scale[:, None, :]), shift[:, None, :])   # (B, L, d)
    return out, (y, scale)


def modulate_backward(dout, cache):
    """dout (B, L, d) -> (dy (B, L, d), dshift, dscale) with the shapes of shift and scale.

    shift and scale are shared by the L positions (and by the batch when their first axis is
    1), so their gradients sum over those axes.
    """
    y, scale = cache
    dy = dout * (1.0 + scale[:, None, :])
    dshift = dout.sum(axis=1)                                  # (B, d)
    dscale = (dout * y).sum(axis=1)                            # (B, d)
    if scale.shape[0] == 1:
        dshift, dscale = dshift.sum(axis=0, keepdims=True), dscale.sum(axis=0, keepdims=True)
    return dy, dshift, dscale


# -- dense layer on every position ---------------------------------------------
def dense_forward(x, W, b):
    """out = x W + b on the last axis. x: (..., d_in), W: (d_in, d_out), b: (d_out,)."""
    out = _plus(x.reshape(-1, x.shape[-1]) @ W, b)
    return out.reshape(*x.shape[:-1], W.shape[1]), (x, W)


def dense_backward(dout, cache):
    """dout (..., d_out) -> (dx (..., d_in), dW (d_in, d_out), db (d_out,)).

    One matrix product over all B*L rows at once: the weights are shared by every position.
    """
    x, W = cache
    d2 = dout.reshape(-1, W.shape[1])                          # (B*L, d_out)
    dx = (d2 @ W.T).reshape(x.shape)
    dW = x.reshape(-1, W.shape[0]).T @ d2
    db = d2.sum(axis=0)
    return dx, dW, db


# -- GELU (tanh approximation) -------------------------------------------------
GELU_C = math.sqrt(2.0 / math.pi)


def gelu_forward(x):
    """out = x/2 (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi): the tanh form of GELU."""
    t = np.tanh(GELU_C * (x + 0.044715 * (x * x * x)))          # x*x*x: x**3 calls pow, slowly
    return 0.5 * x * (1.0 + t), (x, t)


def gelu_backward(dout, cache):
    """dx = dout [(1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)], as tanh' = 1 - tanh^2."""
    x, t = cache
    return dout * (0.5 * (1.0 + t)
                   + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x))


ACTIVATIONS = {"gelu": (gelu_forward, gelu_backward), "silu": (silu_forward, silu_backward)}


# -- multi-head self-attention -------------------------------------------------
def causal_mask(L):
    """allowed[i, j] = j <= i: position i may look at itself and the positions before it."""
    return np.tril(np.ones((L, L), dtype=bool))


def attention_forward(x, W_qkv, b_qkv, W_o, b_o, n_heads, causal=False):
    """Multi-head self-attention.

    x: (B, L, d); W_qkv: (d, 3d), b_qkv: (3d,) give queries, keys and values; W_o: (d, d),
    b_o: (d,) mix the heads. With d_head = d / n_heads, for every head:
        s = q k^T / sqrt(d_head)  (B, H, L, L);   p = softmax_j(s);   o = p v  (B, H, L, d_head)
    and out = concat_heads(o) W_o + b_o (B, L, d). causal=True sets s[i, j] = -inf for j > i,
    so p[i, j] = 0 exactly and out[:, i] depends on x[:, :i+1] only.
    """
    B, L, d = x.shape
    H = n_heads
    d_head = d // H
    qkv, qkv_cache = dense_forward(x, W_qkv, b_qkv)            # (B, L, 3d)
    qkv = qkv.reshape(B, L, 3, H, d_head).transpose(2, 0, 3, 1, 4)  # (3, B, H, L, d_head)
    q, k, v = qkv[0], qkv[1], qkv[2]                           # (B, H, L, d_head) each
    s = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(d_head))  # (B, H, L, L)
    if causal:
        s = np.where(causal_mask(L), s, -np.inf)               # exp(-inf) = 0: no leak
    s -= s.max(axis=-1, keepdims=True)                         # softmax is shift-invariant
    p = np.exp(s, out=s)                                       # in place: s is not needed
    p /= p.sum(axis=-1, keepdims=True)                         # (B, H, L, L) rows sum to 1
    o = p @ v                                                  # (B, H, L, d_head)
    merged = o.transpose(0, 2, 1, 3).reshape(B, L, d)          # (B, L, d) heads side by side
    out, o_cache = dense_forward(merged, W_o, b_o)             # (B, L, d)
    return out, (qkv_cache, q, k, v, p, o_cache, H, causal)


def attention_backward(dout, cache):
    """dout (B, L, d) -> (dx, dW_qkv, db_qkv, dW_o, db_o).

    Softmax backward through its Jacobian dp_j/ds_k = p_j (delta_jk - p_k):
        ds = p * (dp - sum_j(dp * p)).
    Masked entries have p = 0, so their ds is 0: nothing flows to the future.
    """
    qkv_cache, q, k, v, p, o_cache, H, causal = cache
    B, _, L, d_head = q.shape
    d = H * d_head
    dmerged, dW_o, db_o = dense_backward(dout, o_cache)        # (B, L, d)
    do = dmerged.reshape(B, L, H, d_head).transpose(0, 2, 1, 3)  # (B, H, L, d_head)
    dp = do @ v.transpose(0, 1, 3, 2)                          # (B, H, L, L)
    dv = p.transpose(0, 1, 3, 2) @ do                          # (B, H, L, d_head)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))       # (B, H, L, L)
    ds = ds * (1.0 / math.sqrt(d_head))
    dqkv = np.empty((B, L, 3, H, d_head), dtype=ds.dtype)      # the layout of qkv
    dqkv[:, :, 0] = (ds @ k).transpose(0, 2, 1, 3)             # dq (B, H, L, d_head)
    dqkv[:, :, 1] = (ds.transpose(0, 1, 3, 2) @ q).transpose(0, 2, 1, 3)   # dk
    dqkv[:, :, 2] = dv.transpose(0, 2, 1, 3)
    dqkv = dqkv.reshape(B, L, 3 * d)
    dx, dW_qkv, db_qkv = dense_backward(dqkv, qkv_cache)
    return dx, dW_qkv, db_qkv, dW_o, db_o


# -- the position-wise MLP -----------------------------------------------------
def mlp_forward(x, W1, b1, W2, b2, activation="gelu"):
    """out = act(x W1 + b1) W2 + b2 on every position. x: (B, L, d) -> out (B, L, d);
    W1: (d, r d), W2: (r d, d) with r the MLP ratio; activation "gelu" (tanh) or "silu"."""
    act_forward, _ = ACTIVATIONS[activation]
    z, c1 = dense_forward(x, W1, b1)                           # (B, L, r d)
    a, act_cache = act_forward(z)
    out, c2 = dense_forward(a, W2, b2)                         # (B, L, d)
    return out, (c1, act_cache, c2, activation)


def mlp_backward(dout, cache):
    """dout (B, L, d) -> (dx, dW1, db1, dW2, db2)."""
    c1, act_cache, c2, activation = cache
    _, act_backward = ACTIVATIONS[activation]
    da, dW2, db2 = dense_backward(dout, c2)
    dz = act_backward(da, act_cache)
    dx, dW1, db1 = dense_backward(dz, c1)
    return dx, dW1, db1, dW2, db2


# -- one transformer block with adaptive layer norm (adaLN-Zero) --------------------
BLOCK_KEYS = ("qkv_W", "qkv_b", "proj_W", "proj_b", "mlp_W1", "mlp_b1", "mlp_W2", "mlp_b2")


def block_forward(h, mod, w, n_heads, causal=False, activation="gelu"):
    """One pre-norm transformer block conditioned through adaptive layer norm.

    h: (B, L, d) the residual stream; mod: (B, 6, d) or (1, 6, d), the rows
    (shift_a, scale_a, gate_a, shift_m, scale_m, gate_m); w: dict with BLOCK_KEYS.
        a = modulate(LN(h), shift_a, scale_a);   h1 = h + gate_a * Attention(a)
        m = modulate(LN(h1), shift_m, scale_m);  out = h1 + gate_m * MLP(m)
    With gate_a = gate_m = 0 the block is the identity (DiT's adaLN-Zero initialisation).
    Returns out (B, L, d).
    """
    shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (mod[:, k] for k in range(6))
    y, ln1 = layernorm_forward(h)
    a, mod1 = modulate_forward(y, shift_a, scale_a)
    att, att_cache = attention_forward(a, w["qkv_W"], w["qkv_b"], w["proj_W"], w["proj_b"],
                                       n_heads, causal)
    h1 = h + gate_a[:, None, :] * att                          # (B, L, d)
    y1, ln2 = layernorm_forward(h1)
    m, mod2 = modulate_forward(y1, shift_m, scale_m)
    f, mlp_cache = mlp_forward(m, w["mlp_W1"], w["mlp_b1"], w["mlp_W2"], w["mlp_b2"], activation)
    out = h1 + gate_m[:, None, :] * f                          # (B, L, d)
    return out, (ln1, mod1, att_cache, att, gate_a, ln2, mod2, mlp_cache, f, gate_m)


def _sum_to(x, rows):
    """Sum (B, d) down to (1, d) when the forward pass broadcast one row over the batch."""
    return x.sum(axis=0, keepdims=True) if rows == 1 else x


def block_backward(dout, cache):
    """dout (B, L, d) -> (dh (B, L, d), dmod like mod, dw dict with BLOCK_KEYS)."""
    ln1, mod1, att_cache, att, gate_a, ln2, mod2, mlp_cache, f, gate_m = cache
    rows = gate_a.shape[0]
    dw = {}
    df = dout * gate_m[:, None, :]
    dgate_m = _sum_to((dout * f).sum(axis=1), rows)
    dm, dw["mlp_W1"], dw["mlp_b1"], dw["mlp_W2"], dw["mlp_b2"] = mlp_backward(df, mlp_cache)
    dy1, dshift_m, dscale_m = modulate_backward(dm, mod2)
    dh1 = layernorm_backward(dy1, ln2)                         # a fresh array: add in place
    dh1 += dout                                                # the residual path
    datt = dh1 * gate_a[:, None, :]
    dgate_a = _sum_to((dh1 * att).sum(axis=1), rows)
    da, dw["qkv_W"], dw["qkv_b"], dw["proj_W"], dw["proj_b"] = attention_backward(datt, att_cache)
    dy, dshift_a, dscale_a = modulate_backward(da, mod1)
    dh = layernorm_backward(dy, ln1)
    dh += dh1                                                  # the residual path
    dmod = np.stack([dshift_a, dscale_a, dgate_a, dshift_m, dscale_m, dgate_m], axis=1)
    return dh, dmod, dw
