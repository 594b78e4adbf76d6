"""Property-based tests: the claims of test_graphs / test_losses / test_nn for random inputs.

hypothesis draws the rate matrices, noise levels, shapes and values; `derandomize=True`
makes every run (and CI) draw the same examples, and ~30 examples per property keep the
file fast. Claims checked:
- for a random valid Q (non-negative rates, some of them 0, rows summing to 0) and random
  sigma_bar: P = expm(sb Q) is stochastic, P(a + b) = P(a) P(b), and sample_transition
  never draws a token with probability 0;
- Uniform(n) and Absorbing(n) closed forms equal expm for random n and sb;
- dse_targets gives P[x0, y] / P[x0, x_t] from expm for random Q, shapes and noise;
- score entropy and L2 are >= 0 entry by entry, with their minimum at the true ratio;
- the gradients of score_entropy, l2_loss, dse_loss and a random MLP match finite differences.
"""
import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minisedd import Absorbing, Graph, Uniform, dse_loss, dse_targets, gradcheck, l2_loss, score_entropy
from minisedd.nn import MLP

FAST = settings(max_examples=30, deadline=None, derandomize=True)
sigma_bars = st.floats(0.0, 20.0)                               # 0 and tiny values included
seeds = st.integers(0, 2 ** 32 - 1)


@st.composite
def rate_matrices(draw, max_n=6):
    """A valid Q (n, n): off-diagonal rates in [0, 5] (zeros allowed), rows summing to 0."""
    n = draw(st.integers(2, max_n))
    Q = draw(hnp.arrays(np.float64, (n, n), elements=st.floats(0.0, 5.0)))
    np.fill_diagonal(Q, 0.0)
    np.fill_diagonal(Q, -Q.sum(axis=1))
    return Q


@st.composite
def graphs(draw):
    kind = draw(st.sampled_from(["uniform", "absorbing", "graph"]))
    if kind == "graph":
        return Graph(draw(rate_matrices()))
    n = draw(st.integers(2, 6))
    return Uniform(n) if kind == "uniform" else Absorbing(n)


# -- kernels -------------------------------------------------------------------
@FAST
@given(Q=rate_matrices(), a=sigma_bars, b=sigma_bars)
def test_kernels_are_stochastic_and_a_semigroup(Q, a, b):
    g = Graph(Q)
    Pa, Pb, Pab = g.transition(a), g.transition(b), g.transition(a + b)
    for P in (Pa, Pb, Pab):
        assert np.isfinite(P).all() and P.min() >= 0.0
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Pab, Pa @ Pb, rtol=0, atol=1e-12)
    batch = g.transition(np.array([a, b, a + b]))
    np.testing.assert_allclose(batch, np.stack([Pa, Pb, Pab]), rtol=0, atol=1e-14)


@FAST
@given(n=st.integers(2, 40), sb=st.floats(0.0, 50.0), absorbing=st.booleans())
def test_closed_forms_equal_expm(n, sb, absorbing):
    g = Absorbing(n) if absorbing else Uniform(n)
    np.testing.assert_allclose(g.transition(sb), scipy.linalg.expm(sb * np.array(g.Q)),
                               rtol=0, atol=1e-12)


@FAST
@given(Q=rate_matrices(), sb=st.floats(0.0, 5.0), seed=seeds)
def test_sample_transition_only_draws_reachable_tokens(Q, sb, seed):
    g = Graph(Q)
    x0 = np.repeat(np.arange(g.n)[:, None], 200, axis=1)       # (n, 200): every start token
    xt = g.sample_transition(x0, sb, np.random.default_rng(seed))
    assert xt.shape == x0.shape and xt.min() >= 0 and xt.max() < g.n
    P = g.transition(sb)
    assert np.all(P[x0, xt] > 0.0)


# -- DSE targets -----------------------------------------------------------------
@FAST
@given(g=graphs(), B=st.integers(1, 3), L=st.integers(1, 4), sb=st.floats(0.01, 10.0), seed=seeds)
def test_dse_targets_equal_expm_ratios(g, B, L, sb, seed):
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, g.n_clean, size=(B, L))
    sbs = sb * rng.uniform(0.5, 1.0, size=B)
    x_t = g.sample_transition(x0, sbs, rng)
    ratio, weight = dse_targets(g, x_t, x0, sbs)
    for b in range(B):
        P = scipy.linalg.expm(sbs[b] * np.array(g.Q))
        for i in range(L):
            direct = P[x0[b, i]] / P[x0[b, i], x_t[b, i]]
            np.testing.assert_allclose(ratio[b, i], direct, rtol=1e-10, atol=1e-13)
            w = g.Q[:, x_t[b, i]].copy()
            w[x_t[b, i]] = 0.0
            np.testing.assert_array_equal(weight[b, i], w)


# -- losses: non-negative, minimal at the true ratio -------------------------------
shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)


@FAST
@given(data=st.data(), shape=shapes)
def test_losses_are_non_negative_with_the_minimum_at_the_true_ratio(data, shape):
    r = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1e6)), label="ratio")
    u = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-30.0, 30.0)), label="shift")
    log_r = np.log(r, out=np.full(shape, -np.inf), where=r > 0)   # the minimizer, -inf at r = 0
    z = np.where(r > 0, log_r, -5.0) + u                          # any other log-score
    for k in np.ndindex(shape):                                   # entry by entry
        at_min = score_entropy(log_r[k], r[k])[0]
        elsewhere = score_entropy(z[k], r[k])[0]
        assert 0.0 <= at_min <= elsewhere, (r[k], z[k], at_min, elsewhere)
        assert l2_loss(np.exp(z[k]), r[k])[0] >= l2_loss(r[k], r[k])[0] == 0.0


# -- gradients -----------------------------------------------------------------------
@FAST
@given(data=st.data(), shape=shapes)
def test_score_entropy_and_l2_gradients(data, shape):
    z = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-8.0, 8.0)), label="log_s")
    r = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 100.0)), label="ratio")
    w = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 3.0)), label="weight")
    _, grad = score_entropy(z, r, w)
    assert gradcheck(lambda z: score_entropy(z, r, w)[0], z, grad, rng=0) < 1e-6
    s = z.copy()                                                  # a raw score, either sign
    _, grad = l2_loss(s, r, w)
    assert gradcheck(lambda s: l2_loss(s, r, w)[0], s, grad, rng=0) < 1e-6


@FAST
@given(g=graphs(), B=st.integers(1, 3), L=st.integers(1, 3), sb=st.floats(0.01, 10.0), seed=seeds)
def test_dse_gradient(g, B, L, sb, seed):
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, g.n_clean, size=(B, L))
    sbs = np.full(B, sb)
    x_t = g.sample_transition(x0, sbs, rng)
    z = rng.normal(0.0, 2.0, size=(B, L, g.n))
    _, grad = dse_loss(g, z, x_t, x0, sbs)
    err = gradcheck(lambda z: dse_loss(g, z, x_t, x0, sbs)[0], z,
                    lambda dout: dout[:, None, None] * grad, rng=rng)
    assert err < 1e-6


@FAST
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4), batch=st.integers(1, 4), seed=seeds)
def test_mlp_gradient(sizes, batch, seed):
    # SiLU: smooth everywhere, so no input can land on a kink (ReLU is tested in test_nn.py).
    rng = np.random.default_rng(seed)
    model = MLP(sizes, activation="silu", rng=rng)
    for p in model.params.values():
        p += rng.normal(0.0, 0.3, size=p.shape)
    x = rng.normal(size=(batch, sizes[0]))

    def analytic(dout):
        _, cache = model.forward(x)
        dx, grads = model.backward(dout, cache)
        return {"x": dx, **grads}

    err = gradcheck(lambda x, **params: model.forward(x)[0], {"x": x, **model.params}, analytic, rng=rng)
    assert err < 1e-6
