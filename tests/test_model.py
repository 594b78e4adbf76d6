"""The score network ScoreMLP (minisedd/model.py, MATH.md section 3).

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
  (the normalized parameterization), 0 on MASK itself;
- a float sigma_bar means the same as a (B,) array of it; the seed fixes the weights.
"""
import numpy as np
import pytest
import scipy.linalg

from minisedd import Absorbing, ScoreMLP, Uniform, dse_loss, gradcheck
from helpers import make_graph

KINDS = ["uniform", "absorbing", "graph"]
L = 3


def noisy_batch(graph, rng, B=6, length=L):
    """Clean x0 (B, L), noisy x_t ~ P[x0, .] (B, L) and sigma_bar (B,) in [0.2, 2]."""
    x0 = rng.integers(0, graph.data_tokens, size=(B, length))
    sb = rng.uniform(0.2, 2.0, size=B)
    x_t = graph.sample_transition(x0, sb, rng)
    return x0, x_t, sb


def relu_pattern(model, cache):
    """The on/off pattern of every ReLU of a ScoreMLP forward pass (empty for SiLU)."""
    if model.activation != "relu":
        return []
    net_cache = cache[0]                      # per layer: (linear cache, activation input)
    return [act_cache > 0 for _, act_cache in net_cache if act_cache is not None]


# -- gradient of the whole model ----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_whole_model_gradient_matches_finite_differences(kind, activation):
    rng = np.random.default_rng(7)
    graph = make_graph(kind, n=4)
    model = ScoreMLP(graph, L, hidden=8, depth=2, seed=3, activation=activation)
    # a non-zero initial output layer, so every gradient path carries signal
    model.params["W2"][...] = rng.normal(0.0, 0.5, size=model.params["W2"].shape)
    model.params["b0"][...] = rng.normal(0.0, 0.3, size=model.params["b0"].shape)
    x0, x_t, sb = noisy_batch(graph, rng, B=4)
    if kind == "absorbing":
        assert (x_t == graph.mask).any() and (x_t != graph.mask).any()   # both kinds of position

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
    model = ScoreMLP(graph, L, hidden=8, seed=1)
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
    model = ScoreMLP(graph, L, hidden=16, seed=2)
    _, x_t, sb = noisy_batch(graph, rng, B=7)
    log_s = model.log_score(x_t, sb)
    assert log_s.shape == (7, L, graph.n)
    assert np.isfinite(log_s).all()
    self_entry = np.take_along_axis(log_s, x_t[:, :, None], axis=2)
    assert np.all(self_entry == 0.0)                               # s[i, x_i] = 1 exactly
    pi = model.posterior(x_t, sb)
    assert pi.shape == (7, L, graph.data_tokens)
    assert pi.min() > 0.0
    np.testing.assert_allclose(pi.sum(axis=2), 1.0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_are_posterior_through_the_expm_kernel(kind):
    """s[i, y] = (pi_i P)_y / (pi_i P)_{x_i} with P = scipy.linalg.expm(sb Q)."""
    rng = np.random.default_rng(5)
    graph = make_graph(kind)
    model = ScoreMLP(graph, L, hidden=16, seed=4)
    _, x_t, sb = noisy_batch(graph, rng, B=5)
    pi = model.posterior(x_t, sb)                                  # (B, L, K)
    log_s = model.log_score(x_t, sb)
    K = graph.data_tokens
    for b in range(5):
        P = scipy.linalg.expm(sb[b] * np.array(graph.Q))
        u = pi[b] @ P[:K]                                          # (L, n)
        expected = np.log(u) - np.log(u[np.arange(L), x_t[b]])[:, None]
        np.testing.assert_allclose(log_s[b], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_positions_interact(kind):
    """Changing the token at position j moves the posterior at every other position i."""
    rng = np.random.default_rng(6)
    graph = make_graph(kind)
    model = ScoreMLP(graph, 4, hidden=16, seed=5)
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
    model = ScoreMLP(graph, 4, hidden=16, seed=6)
    x = rng.integers(0, graph.data_tokens, size=(5, 4))
    x[rng.random((5, 4)) < 0.5] = graph.mask
    x[0, :] = graph.mask                                           # one fully masked row
    log_s = model.log_score(x, sb)
    log_pi = np.log(model.posterior(x, sb))                        # (B, L, n - 1)
    masked = x == graph.mask
    expected = log_pi - np.log(np.expm1(sb))                       # (B, L, n - 1)
    np.testing.assert_allclose(log_s[masked][:, :graph.mask], expected[masked],
                               rtol=1e-12, atol=1e-10)
    assert np.all(log_s[masked][:, graph.mask] == 0.0)             # MASK is the self entry


def test_float_sigma_bar_equals_an_array_of_it():
    graph = Uniform(4)
    model = ScoreMLP(graph, L, hidden=8)
    x = np.random.default_rng(0).integers(0, 4, size=(3, L))
    assert np.array_equal(model.log_score(x, 0.4), model.log_score(x, np.full(3, 0.4)))


def test_the_seed_fixes_the_initial_weights():
    graph = Absorbing(5)
    a, b, c = (ScoreMLP(graph, L, hidden=8, seed=s) for s in (3, 3, 4))
    assert set(a.params) == {"W0", "b0", "W1", "b1", "W2", "b2"}
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W0"], c.params["W0"])
    # input: one-hot of every position plus 2 noise features; output: K logits per position
    assert a.params["W0"].shape == (L * graph.n + 2, 8)
    assert a.params["W2"].shape == (8, L * graph.data_tokens)
