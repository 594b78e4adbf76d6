"""The score network ScoreMLP (minisedd/model.py; lesson 04).

Claims checked:
- the hand backward pass through the whole model (one-hot and noise features, MLP,
  log-softmax, the posterior-to-score map) equals centred finite differences of
  sum(dse_loss) for every parameter (gradcheck, relative error < 1e-6), on Uniform,
  Absorbing (with masked positions in the batch) and a random Graph(Q), with SiLU and
  with ReLU (checked away from its kinks: no nudge flips a ReLU);
- log_score has shape (B, L, n), the self entry log s[i, x_i] is exactly 0, the
  posterior rows are distributions, and the scores are (pi P)_y / (pi P)_{x_i} with P
  from scipy.linalg.expm;
- positions interact: changing the token at j changes the posterior at every i != j;
- absorbing graph, masked positions: log s[i, y] = log pi_i(y) - log expm1(sigma_bar)
  (the normalized parameterization), 0 on the mask itself;
- a float sigma_bar means the same as a (B,) array of it; the seed fixes the weights.
"""
import numpy as np
import pytest
import scipy.linalg

from minisedd import Absorbing, ScoreMLP, Uniform, dse_loss, gradcheck
from minisedd.score import SB_FLOOR, posterior_score_backward, posterior_score_forward
from helpers import make_graph

KINDS = ["uniform", "absorbing", "graph"]
L = 3


def noisy_batch(graph, rng, B=6, length=L):
    """Clean x0 (B, L), noisy x_t ~ P[x0, .] (B, L) and sigma_bar (B,) in [0.2, 2]."""
    x0 = rng.integers(0, graph.n_clean, size=(B, length))
    sb = rng.uniform(0.2, 2.0, size=B)
    x_t = graph.sample_transition(x0, sb, rng)
    return x0, x_t, sb


def relu_pattern(model, cache):
    """The on/off pattern of every ReLU of a ScoreMLP forward pass (empty for SiLU)."""
    if model.activation != "relu":
        return []
    first = cache[2]                          # the first layer's activation input
    _, net_cache = cache[3]                   # later layers: (linear cache, activation input)
    return [first > 0] + [act_cache > 0 for _, act_cache in net_cache if act_cache is not None]


# -- gradient of the whole model ----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_whole_model_gradient_matches_finite_differences(kind, activation):
    rng = np.random.default_rng(7)
    graph = make_graph(kind, n=4)
    model = ScoreMLP(graph, L, hidden=8, depth=2, rng=3, activation=activation)
    # a non-zero initial output layer, so every gradient path carries signal
    model.params["W2"][...] = rng.normal(0.0, 0.5, size=model.params["W2"].shape)
    model.params["b0"][...] = rng.normal(0.0, 0.3, size=model.params["b0"].shape)
    x0, x_t, sb = noisy_batch(graph, rng, B=4)
    if kind == "absorbing":
        assert (x_t == graph.mask_id).any() and (x_t != graph.mask_id).any()   # both kinds

    log_s, cache = model.forward(x_t, sb)
    _, dlog_s = dse_loss(graph, log_s, x_t, x0, sb)
    analytic = model.backward(dlog_s, cache)
    base_pattern = relu_pattern(model, cache)
    flips = []

    def total_loss(**params):        # reads the nudged params from the model itself
        out, nudged_cache = model.forward(x_t, sb)
        pattern = relu_pattern(model, nudged_cache)
        flips.append(sum(int((a != b).sum()) for a, b in zip(pattern, base_pattern)))
        return dse_loss(graph, out, x_t, x0, sb)[0].sum()

    assert set(analytic) == set(model.params)
    err = gradcheck(total_loss, model.params, analytic, rng=np.random.default_rng(0))
    print(f"{kind}/{activation}: relative error {err:.1e}")
    assert err < 1e-6, f"{kind}/{activation}: relative error {err:.2e}"
    # ReLU is smooth except at 0. The check is valid because no centred difference
    # straddled a kink: every nudged forward pass kept the ReLU on/off pattern of the base.
    assert sum(flips) == 0
    if activation == "relu":
        assert any(p.any() and (~p).any() for p in base_pattern)   # the kinks are really there


def test_every_parameter_gets_a_gradient():
    """All parameter arrays receive a non-zero gradient (none is disconnected)."""
    rng = np.random.default_rng(2)
    graph = Absorbing(5)
    model = ScoreMLP(graph, L, hidden=8, rng=1)
    x0, x_t, sb = noisy_batch(graph, rng, B=8)
    log_s, cache = model.forward(x_t, sb)
    _, dlog_s = dse_loss(graph, log_s, x_t, x0, sb)
    grads = model.backward(dlog_s, cache)
    for name, p in model.params.items():
        assert grads[name].shape == p.shape
        assert np.abs(grads[name]).max() > 0.0, name


# -- what the model outputs ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_log_score_shape_self_entry_and_posterior(kind):
    rng = np.random.default_rng(4)
    graph = make_graph(kind)
    model = ScoreMLP(graph, L, hidden=16, rng=2)
    _, x_t, sb = noisy_batch(graph, rng, B=7)
    log_s = model.log_score(x_t, sb)
    assert log_s.shape == (7, L, graph.n)
    assert np.isfinite(log_s).all()
    self_entry = np.take_along_axis(log_s, x_t[:, :, None], axis=2)
    assert np.all(self_entry == 0.0)                               # s[i, x_i] = 1 exactly
    pi = model.posterior(x_t, sb)
    assert pi.shape == (7, L, graph.n_clean)
    assert pi.min() > 0.0
    np.testing.assert_allclose(pi.sum(axis=2), 1.0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_are_posterior_through_the_expm_kernel(kind):
    """s[i, y] = (pi_i P)_y / (pi_i P)_{x_i} with P = scipy.linalg.expm(sb Q)."""
    rng = np.random.default_rng(5)
    graph = make_graph(kind)
    model = ScoreMLP(graph, L, hidden=16, rng=4)
    _, x_t, sb = noisy_batch(graph, rng, B=5)
    pi = model.posterior(x_t, sb)                                  # (B, L, n_clean)
    log_s = model.log_score(x_t, sb)
    n_clean = graph.n_clean
    for b in range(5):
        P = scipy.linalg.expm(sb[b] * np.array(graph.Q))
        p_tok = pi[b] @ P[:n_clean]                                # (L, n)
        expected = np.log(p_tok) - np.log(p_tok[np.arange(L), x_t[b]])[:, None]
        np.testing.assert_allclose(log_s[b], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_positions_interact(kind):
    """Changing the token at position j moves the posterior at every other position i."""
    rng = np.random.default_rng(6)
    graph = make_graph(kind)
    model = ScoreMLP(graph, 4, hidden=16, rng=5)
    x = rng.integers(0, graph.n, size=(1, 4))
    sb = np.array([0.7])
    base = model.posterior(x, sb)
    for j in range(4):
        changed = x.copy()
        changed[0, j] = (x[0, j] + 1) % graph.n
        moved = np.abs(model.posterior(changed, sb) - base).max(axis=2)[0]   # (L,)
        others = np.delete(moved, j)
        assert others.min() > 1e-6, f"position {j} does not reach the others: {moved}"


@pytest.mark.parametrize("sb", [1e-3, 0.5, 3.0, 12.0])
def test_absorbing_masked_positions_use_the_normalized_parameterization(sb):
    rng = np.random.default_rng(8)
    graph = Absorbing(6)
    model = ScoreMLP(graph, 4, hidden=16, rng=6)
    x = rng.integers(0, graph.n_clean, size=(5, 4))
    x[rng.random((5, 4)) < 0.5] = graph.mask_id
    x[0, :] = graph.mask_id                                        # one fully masked row
    log_s = model.log_score(x, sb)
    log_pi = np.log(model.posterior(x, sb))                        # (B, L, n - 1)
    masked = x == graph.mask_id
    expected = log_pi - np.log(np.expm1(sb))                       # (B, L, n - 1)
    np.testing.assert_allclose(log_s[masked][:, :graph.mask_id], expected[masked],
                               rtol=1e-12, atol=1e-10)
    assert np.all(log_s[masked][:, graph.mask_id] == 0.0)          # the mask is the self entry


def test_float_sigma_bar_equals_an_array_of_it():
    graph = Uniform(4)
    model = ScoreMLP(graph, L, hidden=8, rng=0)
    x = np.random.default_rng(0).integers(0, 4, size=(3, L))
    assert np.array_equal(model.log_score(x, 0.4), model.log_score(x, np.full(3, 0.4)))


def test_the_seed_fixes_the_initial_weights():
    graph = Absorbing(5)
    a, b, c = (ScoreMLP(graph, L, hidden=8, rng=s) for s in (3, 3, 4))
    assert set(a.params) == {"W0", "b0", "W1", "b1", "W2", "b2"}
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W0"], c.params["W0"])
    d = ScoreMLP(graph, L, hidden=8, rng=np.random.default_rng(3))   # a Generator works too
    assert all(np.array_equal(a.params[k], d.params[k]) for k in a.params)
    assert a.n_clean == graph.n_clean == 4
    # input: one-hot of every position plus 2 noise features; output: n_clean logits per position
    assert a.params["W0"].shape == (L * graph.n + 2, 8)
    assert a.params["W2"].shape == (8, L * graph.n_clean)


# -- float32, the shared kernel, and the structured posterior-to-score map ---------------------
@pytest.mark.parametrize("kind", KINDS)
def test_float32_model_computes_in_float32_close_to_float64(kind):
    rng = np.random.default_rng(8)
    graph = make_graph(kind, n=4)
    m64 = ScoreMLP(graph, L, hidden=16, rng=5)
    m32 = ScoreMLP(graph, L, hidden=16, rng=5, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in m32.params.values())
    x0, x_t, sb = noisy_batch(graph, rng)
    log_s32, cache32 = m32.forward(x_t, sb)
    log_s64, cache64 = m64.forward(x_t, sb)
    assert log_s32.dtype == np.float32
    np.testing.assert_allclose(log_s32, log_s64, atol=2e-5)
    _, d32 = dse_loss(graph, log_s32, x_t, x0, sb)
    _, d64 = dse_loss(graph, log_s64, x_t, x0, sb)
    assert d32.dtype == np.float32
    g32, g64 = m32.backward(d32, cache32), m64.backward(d64, cache64)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], atol=1e-4 * np.abs(g64[k]).max() + 1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_with_a_given_transition_is_the_same(kind):
    rng = np.random.default_rng(9)
    graph = make_graph(kind, n=4)
    model = ScoreMLP(graph, L, hidden=8, rng=1)
    _, x_t, sb = noisy_batch(graph, rng)
    a = model.forward(x_t, sb)[0]
    b = model.forward(x_t, sb, transition=graph._transition(sb))[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_structured_posterior_score_map_equals_the_general_product(kind):
    """The closed-form paths of Uniform / Absorbing give the (B, n, n) product's numbers."""
    rng = np.random.default_rng(10)
    graph = make_graph(kind, n=6)
    B = 50
    sb = np.concatenate([np.geomspace(1e-8, 30.0, B - 2), [SB_FLOOR, 1e-3]])
    x_t = rng.integers(0, graph.n, size=(B, L))
    pi = rng.dirichlet(np.ones(graph.n_clean), size=(B, L))              # (B, L, n_clean)
    P = graph._transition(sb)
    fast, fast_cache = posterior_score_forward(pi, P, x_t, graph)
    slow, slow_cache = posterior_score_forward(pi, P, x_t)
    assert fast_cache[-1][0] == kind and slow_cache[-1][0] == "general"
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-14 * max(1.0, np.abs(slow).max()))
    np.testing.assert_allclose(fast_cache[3], slow_cache[3], rtol=1e-14, atol=0)  # p_tok = pi P
    dlog_s = rng.normal(size=fast.shape)
    d_fast = posterior_score_backward(dlog_s, fast_cache)
    d_slow = posterior_score_backward(dlog_s, slow_cache)
    np.testing.assert_allclose(d_fast, d_slow, rtol=1e-14, atol=1e-14 * np.abs(d_slow).max())


def test_at_tokens_reads_and_adds_the_entries_of_the_current_tokens():
    """_at_tokens(a, x) is a[b, i, x[b, i]] (B, L) through one flat index; with add= it adds in
    place, each entry once; a strided array, which reshape would copy, is refused."""
    from minisedd.score import _at_tokens
    rng = np.random.default_rng(12)
    B, n = 9, 5
    a = rng.normal(size=(B, L, n))
    x = rng.integers(0, n, size=(B, L))
    index = (np.arange(B)[:, None], np.arange(L)[None, :], x)
    np.testing.assert_array_equal(_at_tokens(a, x), a[index])
    add = rng.normal(size=(B, L))
    expected = a.copy()
    expected[index] += add
    _at_tokens(a, x, add=add)
    np.testing.assert_array_equal(a, expected)
    with pytest.raises(ValueError, match="contiguous"):
        _at_tokens(np.zeros((B, L, 2 * n))[:, :, ::2], x, add=add)


def test_posterior_score_forward_refuses_a_token_id_out_of_range():
    """The map reads the entries of the current tokens by their flat position, so an id outside
    [0, n) must be an error (it would read a neighbour's entry)."""
    graph = make_graph("uniform", n=4)
    pi = np.full((2, L, 4), 0.25)
    P = graph._transition(np.array([0.5, 1.0]))
    x_t = np.zeros((2, L), dtype=int)
    x_t[1, 0] = 4
    with pytest.raises(ValueError, match=r"x_t must hold token ids in \[0, 4\)"):
        posterior_score_forward(pi, P, x_t, graph)
    with pytest.raises(ValueError, match="x_t must have the shape"):
        posterior_score_forward(pi, P, np.zeros((2, L + 1), dtype=int), graph)
