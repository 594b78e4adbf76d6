"""Score entropy, L2 and denoising score entropy (minisedd/losses.py; lessons 03-04).

Claims checked:
- the hand gradients of score_entropy, l2_loss and dse_loss equal centred finite
  differences (gradcheck, float64, relative error < 1e-6);
- the losses are >= 0, exactly 0 at the true ratio, and any perturbation away from it
  raises them; ratio-0 entries (K(0) = 0) and log-scores from -60 to 60 give no NaN,
  no overflow and the right value;
- dse_targets gives the ratios P[x0, y] / P[x0, x_t] computed directly from
  scipy.linalg.expm, for Uniform, Absorbing and a random Graph(Q), the weights Q[y, x_t],
  and the closed forms of lesson 04 from sb = 1e-12 to 50;
- dse_loss is the sum of its definition, and its gradient is 0 wherever the weight is 0.
"""
import warnings

import numpy as np
import pytest
import scipy.linalg

from minisedd import Absorbing, Uniform, dse_loss, dse_targets, gradcheck, l2_loss, score_entropy
from helpers import make_graph

KINDS = ["uniform", "absorbing", "graph"]
RATIOS = np.array([1e-300, 1e-8, 0.3, 1.0, 2.0, np.e, 7.5, 1e6, 1e300])


def safe_log(r):
    """log r with log 0 = -inf, without a divide-by-zero warning."""
    r = np.asarray(r, dtype=np.float64)
    return np.log(r, out=np.full(r.shape, -np.inf), where=r > 0)


def dse_batch(kind, B=4, L=3, seed=0, sb=None):
    """A graph, clean x0 (B, L), noised x_t drawn from the kernel, sigma_bar (B,)."""
    rng = np.random.default_rng(seed)
    g = make_graph(kind)
    x0 = rng.integers(0, g.n_clean, size=(B, L))
    sb = rng.uniform(0.1, 3.0, size=B) if sb is None else sb
    x_t = g.sample_transition(x0, sb, rng)
    return g, x_t, x0, sb


# -- gradients -------------------------------------------------------------------
def test_score_entropy_gradient():
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, size=(3, 4, 5))                   # log-scores
    r = np.exp(rng.normal(0.0, 2.0, size=z.shape))            # ratios >= 0 ...
    r[0, 0] = 0.0                                             # ... some exactly 0
    w = rng.uniform(0.0, 2.0, size=z.shape)
    w[1, :, 2] = 0.0                                          # some weights 0
    _, grad = score_entropy(z, r, w)
    assert gradcheck(lambda z: score_entropy(z, r, w)[0], z, grad, rng=0) < 1e-6
    _, grad1 = score_entropy(z, r)                        # default weight 1
    assert gradcheck(lambda z: score_entropy(z, r)[0], z, grad1, rng=0) < 1e-6


def test_l2_gradient():
    rng = np.random.default_rng(1)
    s = rng.normal(0.0, 2.0, size=(6, 7))                     # raw scores, of either sign
    r = np.exp(rng.normal(size=s.shape))
    w = rng.uniform(0.0, 2.0, size=(7,))                      # broadcast over rows
    _, grad = l2_loss(s, r, w)
    assert gradcheck(lambda s: l2_loss(s, r, w)[0], s, grad, rng=0) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_dse_gradient(kind):
    g, x_t, x0, sb = dse_batch(kind)
    z = np.random.default_rng(2).normal(0.0, 1.5, size=x_t.shape + (g.n,))
    loss, grad = dse_loss(g, z, x_t, x0, sb)
    assert loss.shape == (x_t.shape[0],)
    # loss is (B,): gradcheck projects it on a random dout, whose backward is dout[b] * grad.
    err = gradcheck(lambda z: dse_loss(g, z, x_t, x0, sb)[0], z,
                    lambda dout: dout[:, None, None] * grad, rng=np.random.default_rng(3))
    assert err < 1e-6


# -- values: non-negative, zero and minimal at the true ratio ----------------------
def test_score_entropy_is_exactly_zero_at_the_true_ratio():
    # l_SE(log r; r) = r - r log r + r log r - r = 0 exactly, and l_SE >= 0.
    for r in RATIOS:
        loss = score_entropy(np.log(r), r)[0]
        assert loss == 0.0, f"l_SE(log r; r) = {loss!r} at r = {r!r}, expected exactly 0"
    loss, grad = score_entropy(-np.inf, 0.0)                  # r = 0: the minimum is at s = 0
    assert loss == 0.0 and grad == 0.0


def test_losses_are_non_negative():
    rng = np.random.default_rng(4)
    r = np.concatenate([[0.0] * 5, np.exp(rng.uniform(-20, 20, size=995))])
    for z in [rng.uniform(-60, 60, size=r.size), safe_log(r) + rng.normal(0, 1e-3, size=r.size)]:
        for k in range(r.size):                               # entry by entry, not only the sum
            assert score_entropy(z[k], r[k])[0] >= 0.0
    s = rng.normal(0.0, 5.0, size=r.size)
    assert all(l2_loss(s[k], r[k])[0] >= 0.0 for k in range(r.size))
    np.testing.assert_array_equal(l2_loss(r, r)[0], 0.0)     # (s - r)^2 = 0 at s = r


@pytest.mark.parametrize("r", RATIOS[1:-1])
def test_minimum_is_at_the_true_ratio(r):
    z = np.log(r)
    base = score_entropy(z, r)[0]
    for delta in [1e-3, -1e-3, 0.1, -0.1, 1.0, -1.0]:
        assert score_entropy(z + delta, r)[0] > base          # l_SE grows like r delta^2 / 2
        assert l2_loss(r + delta * r, r)[0] > l2_loss(r, r)[0]
    # First-order condition: dl_SE/dz = e^{log r} - r is 0 up to the rounding of exp(log r).
    grad = score_entropy(z, r)[1]
    assert abs(grad) <= 4 * np.finfo(float).eps * r * (1.0 + abs(z))


def test_ratio_zero_entries_use_K0_equal_0():
    z = np.array([-np.inf, -60.0, -3.0, 0.0, 2.0, 60.0])
    r = np.zeros_like(z)
    w = np.array([1.0, 1.0, 2.0, 0.5, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = score_entropy(z, r, w)
    # With r = 0: l_SE = e^z + 0 + K(0) = e^z, dl/dz = e^z (and 0 at z = -inf, no 0 * inf).
    np.testing.assert_allclose(grad, w * np.exp(z), rtol=1e-15)
    np.testing.assert_allclose(loss, np.sum(w * np.exp(z)), rtol=1e-15)


@pytest.mark.parametrize("r", [0.0, 1e-300, 1e-8, 1.0, 1e8])
def test_extreme_log_scores_do_not_overflow(r):
    z = np.linspace(-60.0, 60.0, 121)
    ratio = np.full_like(z, r)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_entry = np.array([score_entropy(z[k], r)[0] for k in range(z.size)])
        loss, grad = score_entropy(z, ratio)
        l2, dl2 = l2_loss(np.exp(z), ratio)
    assert np.isfinite(per_entry).all() and per_entry.min() >= 0.0
    assert np.isfinite(loss) and np.isfinite(grad).all() and np.isfinite(l2) and np.isfinite(dl2).all()
    # Value and slope equal their definitions e^z - r z + K(r) and e^z - r, up to the
    # rounding of the terms they are made of (a few ulps of the largest one).
    K = r * np.log(r) - r if r > 0 else 0.0
    ulps = 8 * np.finfo(float).eps * (np.exp(z) + r * np.abs(z) + abs(K) + r)
    assert np.all(np.abs(grad - (np.exp(z) - r)) <= ulps)
    assert np.all(np.abs(per_entry - (np.exp(z) - r * z + K)) <= ulps)
    assert np.all(np.diff(per_entry[z >= (np.log(r) if r > 0 else -np.inf)]) > 0)


# -- DSE targets -------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_dse_ratios_equal_those_from_expm(kind):
    g, x_t, x0, sb = dse_batch(kind, B=5, L=4, seed=7)
    ratio, weight = dse_targets(g, x_t, x0, sb)
    assert ratio.shape == weight.shape == x_t.shape + (g.n,)
    for b in range(x_t.shape[0]):
        P = scipy.linalg.expm(sb[b] * np.array(g.Q))          # the definition
        for i in range(x_t.shape[1]):
            direct = P[x0[b, i]] / P[x0[b, i], x_t[b, i]]
            np.testing.assert_allclose(ratio[b, i], direct, rtol=1e-12, atol=1e-15)
            assert ratio[b, i, x_t[b, i]] == 1.0
            expected_w = g.Q[:, x_t[b, i]].copy()            # Q[y, x_t]: the rate into x_t from y
            expected_w[x_t[b, i]] = 0.0
            np.testing.assert_array_equal(weight[b, i], expected_w)


@pytest.mark.parametrize("sb", [1e-12, 1e-6, 0.5, 3.0, 50.0])
def test_dse_ratios_match_the_uniform_closed_forms(sb):
    n = 6
    g = Uniform(n)
    x0 = np.array([[2, 2, 2]])
    x_t = np.array([[2, 0, 5]])                               # unchanged, then two jumps
    ratio, weight = dse_targets(g, x_t, x0, np.array([sb]))
    em1 = np.expm1(sb)                                        # e^{sb} - 1
    # x_t = x0: (1 - e^-sb)/n / (e^-sb + (1 - e^-sb)/n), which is expm1(sb) / (n + expm1(sb)).
    same = np.full(n, em1 / (n + em1))
    same[2] = 1.0
    np.testing.assert_allclose(ratio[0, 0], same, rtol=1e-13, atol=0)
    # x_t != x0: r at x0 is 1 + n / expm1(sb), every other y gives 1.
    for i, xt in [(1, 0), (2, 5)]:
        moved = np.ones(n)
        moved[2] = 1.0 + n / em1
        np.testing.assert_allclose(ratio[0, i], moved, rtol=1e-13, atol=0)
    np.testing.assert_allclose(weight[0, 0], np.where(np.arange(n) == 2, 0.0, 1.0 / n), rtol=1e-15)


@pytest.mark.parametrize("sb", [1e-12, 1e-6, 0.5, 3.0, 50.0])
def test_dse_ratios_match_the_absorbing_closed_forms(sb):
    n = 5
    g = Absorbing(n)
    mask = g.mask_id
    x0 = np.array([[1, 3]])
    x_t = np.array([[mask, 3]])                               # masked, then unchanged
    ratio, weight = dse_targets(g, x_t, x0, np.array([sb]))
    # Masked: r_y = [y = x0] / expm1(sb) for y != mask_id, and 1 at mask_id itself.
    expected = np.zeros(n)
    expected[1] = 1.0 / np.expm1(sb)
    expected[mask] = 1.0
    np.testing.assert_allclose(ratio[0, 0], expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(weight[0, 0], np.where(np.arange(n) == mask, 0.0, 1.0))
    # Unmasked: nothing flows into a real token, so every weight is 0.
    np.testing.assert_array_equal(weight[0, 1], 0.0)


# -- DSE loss ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_dse_loss_is_the_sum_of_its_definition(kind):
    g, x_t, x0, sb = dse_batch(kind, seed=11)
    z = np.random.default_rng(12).normal(size=x_t.shape + (g.n,))
    loss, _ = dse_loss(g, z, x_t, x0, sb)
    for b in range(x_t.shape[0]):
        P = scipy.linalg.expm(sb[b] * np.array(g.Q))
        total = 0.0
        for i in range(x_t.shape[1]):
            x, a = x_t[b, i], x0[b, i]
            for y in range(g.n):
                if y == x or g.Q[y, x] == 0.0:
                    continue
                r = P[a, y] / P[a, x]
                K = r * np.log(r) - r if r > 0 else 0.0
                total += g.Q[y, x] * (np.exp(z[b, i, y]) - r * z[b, i, y] + K)
        np.testing.assert_allclose(loss[b], total, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_dse_minimum_is_at_the_true_ratio(kind):
    g, x_t, x0, sb = dse_batch(kind, seed=13)
    ratio, weight = dse_targets(g, x_t, x0, sb)
    z_true = safe_log(ratio)                                  # -inf where the ratio is 0
    base = dse_loss(g, z_true, x_t, x0, sb)[0]
    seen = (weight > 0).any(axis=(1, 2))                      # sequences with a weighted entry
    assert seen.any()
    rng = np.random.default_rng(14)
    for scale in [1e-2, 0.3]:
        z = np.where(np.isfinite(z_true), z_true, -5.0) + rng.normal(0, scale, size=z_true.shape)
        moved = dse_loss(g, z, x_t, x0, sb)[0]
        assert np.all(moved[seen] > base[seen])
        np.testing.assert_array_equal(moved[~seen], 0.0)      # nothing weighted, nothing to learn
    assert np.isfinite(base).all() and base.min() >= 0.0


def test_dse_at_zero_noise_has_zero_ratios():
    # At sb = 0 nothing has moved: x_t = x0 and every ratio y != x_t is 0 (K(0) = 0),
    # so the loss is sum_y Q[y, x] e^{log_s[y]}, finite, and 0 at log_s = -inf.
    g = Uniform(4)
    x0 = np.array([[0, 3], [1, 1]])
    z = np.random.default_rng(15).normal(size=(2, 2, 4))
    ratio, weight = dse_targets(g, x0, x0, np.zeros(2))
    off = weight > 0
    assert np.all(ratio[off] == 0.0)
    loss, grad = dse_loss(g, z, x0, x0, np.zeros(2))
    np.testing.assert_allclose(loss, (weight * np.exp(z)).sum(axis=(1, 2)), rtol=1e-14)
    z_min = np.where(off, -np.inf, 0.0)
    loss, grad = dse_loss(g, z_min, x0, x0, np.zeros(2))
    np.testing.assert_array_equal(loss, 0.0)
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_dse_gradient_is_zero_where_the_weight_is_zero(kind):
    g, x_t, x0, sb = dse_batch(kind, B=6, L=5, seed=16)
    _, weight = dse_targets(g, x_t, x0, sb)
    zero = weight == 0.0
    assert zero.any() and (~zero).any()
    rng = np.random.default_rng(17)
    z = rng.normal(0.0, 3.0, size=weight.shape)
    loss, grad = dse_loss(g, z, x_t, x0, sb)
    np.testing.assert_array_equal(grad[zero], 0.0)
    assert np.all(grad[~zero] != 0.0)
    # The loss does not see those entries at all, even at +-60 or -inf.
    for fill in [60.0, -60.0, -np.inf]:
        z2 = np.where(zero, fill, z)
        loss2, grad2 = dse_loss(g, z2, x_t, x0, sb)
        np.testing.assert_array_equal(loss2, loss)
        np.testing.assert_array_equal(grad2, grad)


def test_dse_extreme_noise_levels_stay_finite():
    for kind in KINDS:
        for sb in [1e-12, 50.0]:
            g, x_t, x0, sbs = dse_batch(kind, B=3, L=4, seed=18, sb=np.full(3, sb))
            z = np.random.default_rng(19).uniform(-60.0, 60.0, size=x_t.shape + (g.n,))
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                loss, grad = dse_loss(g, z, x_t, x0, sbs)
            assert np.isfinite(loss).all() and loss.min() >= 0.0 and np.isfinite(grad).all()


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_dse_loss_with_a_given_transition_and_in_float32(kind):
    g, x_t, x0, sb = dse_batch(kind)
    z = np.random.default_rng(2).normal(0.0, 1.5, size=x_t.shape + (g.n,))
    loss, grad = dse_loss(g, z, x_t, x0, sb)
    loss2, grad2 = dse_loss(g, z, x_t, x0, sb, transition=g._transition(sb))
    np.testing.assert_array_equal(loss, loss2)
    np.testing.assert_array_equal(grad, grad2)
    loss32, grad32 = dse_loss(g, z.astype(np.float32), x_t, x0, sb)
    assert loss32.dtype == np.float64 and grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, grad, rtol=1e-5, atol=1e-5 * np.abs(grad).max())
    with pytest.raises(ValueError, match="transition must have shape"):
        dse_loss(g, z, x_t, x0, sb, transition=g._transition(sb)[:1])


def test_dse_gradient_is_float_for_integer_log_scores():
    # log_s may be any real array; the gradient is float64 unless log_s is float32
    graph = Absorbing(4)
    x0 = np.array([[0, 1, 2]])
    x_t = np.array([[3, 1, 3]])
    ints = np.zeros((1, 3, 4), dtype=np.int64)
    loss_i, grad_i = dse_loss(graph, ints, x_t, x0, np.array([0.5]))
    loss_f, grad_f = dse_loss(graph, ints.astype(np.float64), x_t, x0, np.array([0.5]))
    assert grad_i.dtype == np.float64 and np.array_equal(grad_i, grad_f)
    assert np.array_equal(loss_i, loss_f) and np.abs(grad_f).max() > 0
    _, grad_32 = dse_loss(graph, ints.astype(np.float32), x_t, x0, np.array([0.5]))
    assert grad_32.dtype == np.float32


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_loss_without_gradient_is_the_same_loss(kind):
    """The bound's path (losses._dse_loss(..., with_grad=False), se_terms(..., with_grad=False))
    gives the very numbers of dse_loss and skips only the gradient."""
    from minisedd.losses import _dse_loss, se_terms
    rng = np.random.default_rng(5)
    g = make_graph(kind, n=5)
    x0 = rng.integers(0, g.n_clean, size=(40, 3))
    sb = rng.uniform(0.05, 4.0, size=40)
    x_t = g.sample_transition(x0, sb, rng)
    z = rng.normal(size=(40, 3, g.n))
    loss, _ = dse_loss(g, z, x_t, x0, sb)
    alone, no_grad = _dse_loss(g, z, x_t, x0, g.transition(sb), sb, with_grad=False)
    assert alone.tobytes() == loss.tobytes() and no_grad is None
    ratio, weight = dse_targets(g, x_t, x0, sb)
    full, grad = se_terms(z, ratio, weight)
    only, none = se_terms(z, ratio, weight, with_grad=False)
    assert none is None and grad is not None and only.tobytes() == full.tobytes()
