"""The transformer layers (minisedd/attention.py) and both transformers (minisedd/transformer.py).

Claims checked:
- every layer's hand backward pass equals centred finite differences (relative error < 1e-6):
  embedding (with repeated tokens), layer norm, the adaptive shift/scale (per sequence and
  shared), dense, GELU, attention with and without the causal mask, the MLP (GELU and SiLU)
  and a whole block with per-sequence and shared modulations;
- the whole ScoreTransformer, through the DSE loss, on the uniform and absorbing graphs, and
  the CausalTransformer through its log-likelihood;
- causality: output i of the causal model does not change, exactly, when x_j (j >= i) changes,
  and does change with x_j (j < i);
- adaLN-Zero: with zero gates a block returns its input exactly; a fresh ScoreTransformer's
  posterior at i depends on x_i alone;
- the score protocol: self entry 0, posterior rows are distributions, train lowers the loss,
  sample returns valid tokens, nelbo runs; the causal model's probabilities are normalized
  over all sequences (log_likelihood is exact);
- save/load is bit-identical; float32 agrees with float64; bad input raises clear errors.
"""
import itertools

import numpy as np
import pytest

import minisedd as ms
from minisedd import attention as at
from minisedd.losses import dse_loss
from minisedd.transformer import CausalTransformer, ScoreTransformer

TOL = 1e-6


def check_layer(forward, backward, inputs, rng, skip=()):
    """gradcheck of forward(*inputs) against backward(dout, cache) (the None entries skipped)."""
    arrays = [a for k, a in enumerate(inputs) if k not in skip]

    def f(*_):
        return forward(*inputs)[0]

    def analytic(dout):
        grads = backward(dout, forward(*inputs)[1])
        return [g for k, g in enumerate(grads) if k not in skip]
    return ms.gradcheck(f, arrays, analytic, rng=rng)


def block_weights(rng, d, r=2):
    return {"qkv_W": rng.normal(0, 0.5, (d, 3 * d)), "qkv_b": rng.normal(0, 0.1, 3 * d),
            "proj_W": rng.normal(0, 0.5, (d, d)), "proj_b": rng.normal(0, 0.1, d),
            "mlp_W1": rng.normal(0, 0.5, (d, r * d)), "mlp_b1": rng.normal(0, 0.1, r * d),
            "mlp_W2": rng.normal(0, 0.5, (r * d, d)), "mlp_b2": rng.normal(0, 0.1, d)}


def randomize(model, rng, scale=0.3):
    """Non-zero values everywhere (the zero-initialised gates would hide gradient paths)."""
    for p in model.params.values():
        p[...] += rng.normal(0.0, scale, size=p.shape)


# -- layers --------------------------------------------------------------------
def test_embedding_gradient_with_repeated_tokens():
    rng = np.random.default_rng(0)
    x = np.array([[1, 1, 3], [0, 1, 1]])                   # token 1 four times: the scatter-add
    E, pos = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    err = check_layer(lambda E, pos: at.embedding_forward(x, E, pos),
                      lambda d, c: at.embedding_backward(d, c)[1:], [E, pos], rng)
    assert err < TOL
    h, _ = at.embedding_forward(x, E, pos)
    assert np.array_equal(h[1, 2], E[1] + pos[2])


@pytest.mark.parametrize("bad", [-1, 7])
def test_embedding_refuses_ids_outside_the_table(bad):
    """A negative id would pick a row from the end in the lookup; the backward's sparse matrix
    cannot hold it. Both passes name the argument and the range."""
    E, pos = np.zeros((7, 3)), np.zeros((4, 3))
    x = np.array([[0, 1, bad]])
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, 7\)"):
        at.embedding_forward(x, E, pos)
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, 7\)"):
        at.embedding_backward(np.ones((1, 3, 3)), (x, E.shape, pos.shape))


def test_in_place_adds_keep_numpy_promotion_and_broadcasting():
    rng = np.random.default_rng(2)
    x, W = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    b = rng.normal(size=5)                                          # float64 bias
    out, _ = at.dense_forward(x, W, b)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, x @ W + b, rtol=1e-6)
    y = rng.normal(size=(1, 3, 4))                                 # one row, shifts per sequence
    shift, scale = rng.normal(size=(2, 4)), np.zeros((1, 4))
    out, _ = at.modulate_forward(y, shift, scale)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, y + shift[:, None, :])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_backward_is_the_scatter_add_bit_for_bit(dtype):
    """The sparse product adds the same rows in the same order as np.add.at (SciPy's product
    walks each row of the transposed one-hot matrix in column order; if a SciPy release ever
    changed that order, this test would say so)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 7, size=(50, 9))
    x[:, 4:] = np.where(rng.random((50, 5)) < 0.5, 6, x[:, 4:])    # one token very common
    E, pos = np.zeros((7, 5), dtype), np.zeros((12, 5), dtype)
    dh = rng.normal(size=(50, 9, 5)).astype(dtype)
    _, dE, dpos = at.embedding_backward(dh, at.embedding_forward(x, E, pos)[1])
    expected = np.zeros((7, 5), dtype)
    np.add.at(expected, x.reshape(-1), dh.reshape(-1, 5))
    assert dE.dtype == dtype and dE.tobytes() == expected.tobytes()
    assert np.array_equal(dpos[:9], dh.sum(axis=0)) and not dpos[9:].any()


def test_layernorm_and_modulate_gradients():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 6)) * 2.0 + 1.0
    assert check_layer(at.layernorm_forward, lambda d, c: [at.layernorm_backward(d, c)],
                       [x], rng) < TOL
    y = at.layernorm_forward(x)[0]
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-4)
    for rows in (3, 1):                                     # per sequence, shared by the batch
        shift, scale = rng.normal(size=(rows, 6)), rng.normal(size=(rows, 6))
        assert check_layer(at.modulate_forward, at.modulate_backward, [y, shift, scale],
                           rng) < TOL


def test_dense_and_gelu_gradients():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4))
    W, b = rng.normal(size=(4, 5)), rng.normal(size=5)
    assert check_layer(at.dense_forward, at.dense_backward, [x, W, b], rng) < TOL
    z = rng.normal(size=(4, 7)) * 3.0
    assert check_layer(at.gelu_forward, lambda d, c: [at.gelu_backward(d, c)], [z], rng) < TOL
    # the tanh form is within 1e-3 of x * Phi(x)
    from scipy.special import ndtr
    np.testing.assert_allclose(at.gelu_forward(z)[0], z * ndtr(z), atol=1e-3)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_gradient(causal):
    rng = np.random.default_rng(3)
    B, L, d, H = 2, 4, 6, 2
    x = rng.normal(size=(B, L, d))
    W_qkv, b_qkv = rng.normal(0, 0.6, (d, 3 * d)), rng.normal(0, 0.1, 3 * d)
    W_o, b_o = rng.normal(0, 0.6, (d, d)), rng.normal(0, 0.1, d)

    def fwd(x, W_qkv, b_qkv, W_o, b_o):
        return at.attention_forward(x, W_qkv, b_qkv, W_o, b_o, H, causal)
    assert check_layer(fwd, at.attention_backward, [x, W_qkv, b_qkv, W_o, b_o], rng) < TOL
    out, cache = fwd(x, W_qkv, b_qkv, W_o, b_o)
    p = cache[4]                                            # (B, H, L, L) attention weights
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    assert (np.triu(p[0, 0], 1) == 0).all() == causal


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_mlp_gradient(activation):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4))
    w = [rng.normal(size=(4, 8)), rng.normal(size=8), rng.normal(size=(8, 4)), rng.normal(size=4)]
    assert check_layer(lambda *a: at.mlp_forward(*a, activation), at.mlp_backward,
                       [x] + w, rng) < TOL


@pytest.mark.parametrize("rows,causal", [(3, False), (1, True)])
def test_block_gradient(rows, causal):
    rng = np.random.default_rng(5)
    B, L, d = 3, 4, 4
    h, mod, w = rng.normal(size=(B, L, d)), rng.normal(0, 0.5, (rows, 6, d)), block_weights(rng, d)
    keys = list(at.BLOCK_KEYS)

    def fwd(h, mod, *ws):
        return at.block_forward(h, mod, dict(zip(keys, ws)), 2, causal, "gelu")

    def bwd(dout, cache):
        dh, dmod, dw = at.block_backward(dout, cache)
        return [dh, dmod] + [dw[k] for k in keys]
    assert check_layer(fwd, bwd, [h, mod] + [w[k] for k in keys], rng) < TOL


def test_zero_gates_make_a_block_the_identity():
    rng = np.random.default_rng(6)
    h, w = rng.normal(size=(2, 5, 4)), block_weights(rng, 4)
    mod = rng.normal(size=(2, 6, 4))
    mod[:, [2, 5]] = 0.0                                    # gate_a = gate_m = 0
    out, _ = at.block_forward(h, mod, w, 2)
    assert np.array_equal(out, h)
    mod[:, 2] = 0.1
    assert not np.allclose(at.block_forward(h, mod, w, 2)[0], h)


# -- ScoreTransformer ------------------------------------------------------------
def noisy_batch(graph, rng, B=4, L=3):
    x0 = rng.integers(0, graph.n_clean, size=(B, L))
    sb = rng.uniform(0.2, 2.0, size=B)
    return x0, graph.sample_transition(x0, sb, rng), sb


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_score_transformer_gradient_through_the_dse_loss(kind):
    rng = np.random.default_rng(7)
    graph = ms.Uniform(4) if kind == "uniform" else ms.Absorbing(5)
    model = ScoreTransformer(graph, 3, d_model=4, n_heads=2, n_layers=2, rng=1, mlp_ratio=2)
    randomize(model, rng)
    x0, x_t, sb = noisy_batch(graph, rng)
    if kind == "absorbing":
        assert (x_t == graph.mask_id).any() and (x_t != graph.mask_id).any()
    log_s, cache = model.forward(x_t, sb)
    _, dlog_s = dse_loss(graph, log_s, x_t, x0, sb)
    grads = model.backward(dlog_s, cache)
    assert set(grads) == set(model.params)
    assert all(np.abs(g).max() > 0 for g in grads.values())

    def total_loss(**_):
        return dse_loss(graph, model.forward(x_t, sb)[0], x_t, x0, sb)[0].sum()
    err = ms.gradcheck(total_loss, model.params, grads, rng=rng, max_entries=6)
    assert err < TOL, err


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_forward_with_a_given_transition_is_the_same(kind):
    rng = np.random.default_rng(4)
    graph = ms.Uniform(5) if kind == "uniform" else ms.Absorbing(5)
    model = ScoreTransformer(graph, 3, d_model=8, n_heads=2, n_layers=1, rng=0)
    randomize(model, rng)
    x_t = rng.integers(0, graph.n, size=(6, 3))
    sb = rng.uniform(0.1, 3.0, size=6)
    a = model.forward(x_t, sb)[0]
    b = model.forward(x_t, sb, transition=graph.transition(sb))[0]
    np.testing.assert_array_equal(a, b)


def test_score_protocol_and_fresh_model_sees_only_its_own_token():
    rng = np.random.default_rng(8)
    graph = ms.Absorbing(6)
    model = ScoreTransformer(graph, 4, d_model=8, n_heads=2, rng=0)
    _, x_t, sb = noisy_batch(graph, rng, B=5, L=4)
    log_s = model.log_score(x_t, sb)
    assert log_s.shape == (5, 4, 6) and np.isfinite(log_s).all()
    assert np.all(np.take_along_axis(log_s, x_t[:, :, None], axis=2) == 0.0)
    pi = model.posterior(x_t, sb)
    assert pi.shape == (5, 4, 5)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)
    changed = x_t.copy()
    changed[:, 0] = (changed[:, 0] + 1) % 6
    moved = np.abs(model.posterior(changed, sb) - pi).max(axis=(0, 2))   # (L,)
    assert moved[0] > 0 and (moved[1:] == 0).all()      # identity blocks: no mixing yet
    randomize(model, rng)                               # open the gates: positions interact
    pi = model.posterior(x_t, sb)
    assert (np.abs(model.posterior(changed, sb) - pi).max(axis=(0, 2))[1:] > 1e-8).all()


def test_train_sample_and_nelbo_accept_the_transformer():
    graph, noise = ms.problem("absorbing", ms.TOY_N_CLEAN)
    model = ScoreTransformer(graph, 4, d_model=16, n_heads=2, n_layers=1, rng=0,
                             dtype=np.float32)
    history = ms.train(model, ms.TOY_SENTENCES, noise, steps=60, batch_size=48, lr=1e-2,
                       rng=0, log_every=0, ema=0)
    assert history[-10:].mean() < 0.8 * history[:10].mean()
    assert all(p.dtype == np.float32 for p in model.params.values())
    x = ms.sample(model, noise, 16, steps=8, rng=1)
    assert x.shape == (16, 4) and x.min() >= 0 and x.max() < ms.TOY_N_CLEAN
    bound, _ = ms.nelbo(model, noise, ms.TOY_SENTENCES[:2], method="mc", num_samples=8, rng=2)
    assert bound.shape == (2,) and np.isfinite(bound).all() and (bound > 0).all()


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(9)
    graph = ms.Uniform(5)
    m64 = ScoreTransformer(graph, 4, d_model=8, n_heads=2, rng=0)
    randomize(m64, rng, scale=0.1)
    m32 = ScoreTransformer(graph, 4, d_model=8, n_heads=2, rng=0, dtype=np.float32)
    for k, p in m32.params.items():
        p[...] = m64.params[k]
    x0, x_t, sb = noisy_batch(graph, rng, B=6, L=4)
    a, b = m64.posterior(x_t, sb), m32.posterior(x_t, sb)
    assert np.abs(a - b).max() < 1e-5 and np.abs(a - b).max() > 0   # really computed in float32
    np.testing.assert_allclose(m32.log_score(x_t, sb), m64.log_score(x_t, sb), atol=2e-5)
    c64, c32 = CausalTransformer(5, 4, d_model=8, rng=0), CausalTransformer(5, 4, d_model=8,
                                                                            rng=0, dtype="float32")
    randomize(c64, rng, scale=0.1)
    for k, p in c32.params.items():
        p[...] = c64.params[k]
    np.testing.assert_allclose(c32.log_likelihood(x0), c64.log_likelihood(x0), rtol=1e-5)


# -- CausalTransformer ---------------------------------------------------------------
def test_causal_gradient_through_the_log_likelihood():
    rng = np.random.default_rng(10)
    model = CausalTransformer(4, 3, d_model=4, n_heads=2, n_layers=2, rng=0, mlp_ratio=2)
    randomize(model, rng)
    x = rng.integers(0, 4, size=(5, 3))

    def analytic(dout):                                     # d sum_b dout_b log p(x_b)
        log_probs, cache = model.forward(x)
        dlog_probs = np.zeros_like(log_probs)
        np.put_along_axis(dlog_probs, x[:, :, None], np.repeat(dout[:, None, None], 3, 1), axis=2)
        return model.backward(dlog_probs, cache)
    err = ms.gradcheck(lambda **_: model.log_likelihood(x), model.params, analytic, rng=rng,
                       max_entries=6)
    assert err < TOL, err


def test_causal_output_depends_on_the_past_only():
    rng = np.random.default_rng(11)
    L = 5
    model = CausalTransformer(6, L, d_model=8, n_heads=2, rng=0)
    randomize(model, rng)
    x = rng.integers(0, 6, size=(3, L))
    base = model.forward(x)[0]
    for j in range(L):
        changed = x.copy()
        changed[:, j] = (x[:, j] + 1) % 6
        out = model.forward(changed)[0]
        assert np.array_equal(out[:, :j + 1], base[:, :j + 1])      # outputs i <= j: unchanged
        if j < L - 1:
            assert (np.abs(out[:, j + 1:] - base[:, j + 1:]).max(axis=(0, 2)) > 1e-8).all()


def test_causal_probabilities_sum_to_one_over_all_sequences_and_sampling():
    model = CausalTransformer(3, 4, d_model=8, n_heads=2, rng=0)
    randomize(model, np.random.default_rng(12))
    every = np.array(list(itertools.product(range(3), repeat=4)))
    assert np.isclose(np.exp(model.log_likelihood(every)).sum(), 1.0, atol=1e-12)
    x = model.sample(2000, rng=3)
    assert x.shape == (2000, 4) and x.min() >= 0 and x.max() < 3
    p_first = np.exp(model.forward(every[:1])[0][0, 0])             # p(x_0), (3,)
    np.testing.assert_allclose(np.bincount(x[:, 0], minlength=3) / 2000, p_first, atol=0.04)
    assert np.array_equal(model.sample(5, rng=7), model.sample(5, rng=7))
    # at a temperature: every conditional to the power 1/T, renormalized (computed here from
    # the forward pass), multiplied along the row; it sums to one, and sampling follows it
    log_probs = model.forward(every)[0] / 0.5
    log_probs -= np.log(np.exp(log_probs).sum(axis=-1, keepdims=True))
    by_hand = np.take_along_axis(log_probs, every[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    np.testing.assert_allclose(model.log_likelihood(every, temperature=0.5), by_hand,
                               rtol=0, atol=1e-12)
    assert np.isclose(np.exp(by_hand).sum(), 1.0, atol=1e-12)
    x = model.sample(2000, rng=4, temperature=0.5)
    p_sharp = p_first ** 2 / np.sum(p_first ** 2)
    np.testing.assert_allclose(np.bincount(x[:, 0], minlength=3) / 2000, p_sharp, atol=0.04)


def test_end_marker_rows_loss_gradient_likelihood_and_sampling():
    """With end_id, padding after the first end is certain: p sums to 1 over well-formed rows."""
    rng = np.random.default_rng(14)
    model = CausalTransformer(3, 4, d_model=4, n_heads=2, n_layers=1, rng=0, end_id=0)
    randomize(model, rng)
    every = np.array(list(itertools.product(range(3), repeat=4)))
    ll = model.log_likelihood(every, batch_size=7)
    assert np.isclose(np.exp(ll).sum(), 1.0, atol=1e-12)
    assert ll[every.tolist().index([1, 0, 2, 0])] == -np.inf          # a letter after the end
    x = np.array([[1, 2, 0, 0], [2, 0, 0, 0], [1, 1, 2, 1]])           # 3, 2 and 4 counted
    loss, dlog_probs, cache = model.loss(x)
    assert np.isclose(loss, -model.log_likelihood(x).sum() / 9)
    assert np.isclose(model.nll_per_char(x), loss)
    grads = model.backward(dlog_probs, cache)
    err = ms.gradcheck(lambda **_: model.loss(x)[0], model.params, grads, rng=rng,
                       max_entries=6)
    assert err < TOL, err
    samples = model.sample(300, rng=1)
    assert (model.log_likelihood(samples) > -np.inf).all()             # padded after the end
    # at a temperature the end marker is tempered like any token, and padding stays certain
    tempered = model.log_likelihood(every, temperature=0.4)
    assert np.isclose(np.exp(tempered).sum(), 1.0, atol=1e-12)
    assert np.array_equal(np.isneginf(tempered), np.isneginf(ll))
    assert -np.sum(np.exp(tempered[ll > -np.inf]) * tempered[ll > -np.inf]) < -np.sum(
        np.exp(ll[ll > -np.inf]) * ll[ll > -np.inf])                  # less varied at T < 1
    samples = model.sample(300, rng=1, temperature=0.4)
    assert (model.log_likelihood(samples, temperature=0.4) > -np.inf).all()


# -- checkpoints and bad input ----------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_round_trip_is_bit_identical(tmp_path, dtype):
    rng = np.random.default_rng(13)
    model = ScoreTransformer(ms.Absorbing(5), 3, d_model=8, n_heads=2, rng=0, dtype=dtype,
                             activation="silu")
    randomize(model, rng)
    model.meta = {"vocab": ["a", "b"]}
    model.save(tmp_path / "s.npz")
    back = ScoreTransformer.load(tmp_path / "s.npz")
    assert back.meta == model.meta and back.activation == "silu" and back.dtype == dtype
    assert all(np.array_equal(back.params[k], p) and back.params[k].dtype == p.dtype
               for k, p in model.params.items())
    _, x_t, sb = noisy_batch(model.graph, rng, L=3)
    assert np.array_equal(back.log_score(x_t, sb), model.log_score(x_t, sb))
    causal = CausalTransformer(4, 3, d_model=8, n_heads=2, n_layers=3, rng=1, dtype=dtype,
                               end_id=0)
    randomize(causal, rng)
    causal.save(tmp_path / "c.npz")
    again = CausalTransformer.load(tmp_path / "c.npz")
    x = rng.integers(0, 4, size=(2, 3))
    assert again.end_id == 0
    assert np.array_equal(again.log_likelihood(x), causal.log_likelihood(x))
    with pytest.raises(ValueError, match="CausalTransformer checkpoint"):
        CausalTransformer.load(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="not a file"):
        ScoreTransformer.load(tmp_path / "missing.npz")


def test_bad_input():
    graph = ms.Uniform(4)
    with pytest.raises(TypeError, match="graph"):
        ScoreTransformer(np.eye(4), 3)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        ScoreTransformer(graph, 3, d_model=6, n_heads=4)
    with pytest.raises(TypeError, match="dtype"):
        ScoreTransformer(graph, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="activation"):
        CausalTransformer(4, 3, activation="tanh")
    with pytest.raises(TypeError, match="rng"):
        CausalTransformer(4, 3, rng="seed")
    model = ScoreTransformer(graph, 3, d_model=8, n_heads=2)
    with pytest.raises(ValueError, match="x_t"):
        model.log_score(np.zeros((2, 4), dtype=int), 0.5)
    with pytest.raises(ValueError, match="x_t"):
        model.log_score(np.full((2, 3), 4), 0.5)
    with pytest.raises(ValueError, match="sigma_bar"):
        model.log_score(np.zeros((2, 3), dtype=int), -1.0)
    causal = CausalTransformer(4, 3, d_model=8, n_heads=2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\)"):
        causal.forward(np.zeros((2, 5), dtype=int))
    with pytest.raises(TypeError, match="x must"):
        causal.log_likelihood(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="end_id"):
        CausalTransformer(4, 3, end_id=4)
    with pytest.raises(ValueError, match="num"):
        causal.sample(0)
    with pytest.raises(ValueError, match="temperature must be > 0.0"):
        causal.sample(2, temperature=-0.5)
    with pytest.raises(ValueError, match="temperature must be finite"):
        causal.log_likelihood(np.zeros((2, 3), dtype=int), temperature=np.nan)
