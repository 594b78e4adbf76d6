"""Layers, the MLP and Adam (minisedd/nn.py, minisedd/optim.py).

Claims checked:
- every forward/backward pair (linear, ReLU, SiLU, log-softmax) agrees with centred finite
  differences (gradcheck, float64, relative error < 1e-6), with a random upstream gradient;
- the MLP's backward pass gives the gradient of every parameter and of its input, for both
  activations;
- one Adam step equals the update written out by hand, and Adam drives a quadratic to its
  minimum; Adam gives the same bits whether parameters are updated together (the small ones
  share flat arrays) or each on its own;
- sum_last and max_last, the fast reductions over a short last axis, give NumPy's sum and
  max bit for bit.
"""
import warnings

import numpy as np
import pytest

from minisedd import Adam, gradcheck
from minisedd.nn import (MLP, embedding_backward, embedding_forward, linear_backward, linear_forward, log_softmax_backward,
                         log_softmax_forward, max_last, relu_backward, relu_forward, silu_backward,
                         silu_forward, sum_last, temper)
from minisedd.optim import SMALL


def check_layer(forward, backward, inputs, seed=0):
    """gradcheck of a forward/backward pair; inputs is a list, backward returns a tuple or one array."""
    def analytic(dout):
        _, cache = forward(*inputs)
        grads = backward(dout, cache)
        return list(grads) if isinstance(grads, tuple) else [grads]
    return gradcheck(lambda *a: forward(*a)[0], inputs, analytic, rng=np.random.default_rng(seed))


# -- layers --------------------------------------------------------------------
def test_linear_forward_and_backward():
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    out, _ = linear_forward(x, W, b)
    np.testing.assert_allclose(out, x @ W + b, rtol=1e-15)
    assert check_layer(linear_forward, linear_backward, [x, W, b]) < 1e-6


def test_relu_forward_and_backward_away_from_the_kink():
    # ReLU has a kink at 0: there a centred difference straddles both slopes and returns
    # their average, 1/2, while the backward pass uses 0. So inputs keep |x| >= 0.1, far
    # beyond the step h = 1e-5, where ReLU is linear on both sides of every nudge.
    rng = np.random.default_rng(1)
    x = rng.choice([-1.0, 1.0], size=(5, 6)) * rng.uniform(0.1, 3.0, size=(5, 6))
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0))
    assert check_layer(relu_forward, relu_backward, [x]) < 1e-6
    # The convention at the kink itself: derivative 0 (documented in relu_backward).
    assert relu_backward(np.ones(1), relu_forward(np.zeros(1))[1])[0] == 0.0


def test_silu_forward_and_backward():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0.0, 3.0, size=20), [0.0, -30.0, 30.0]]).reshape(1, -1)
    out, _ = silu_forward(x)
    np.testing.assert_allclose(out, x / (1.0 + np.exp(-x)), rtol=1e-14, atol=0.0)
    assert check_layer(silu_forward, silu_backward, [x]) < 1e-6


def test_silu_has_no_overflow_at_large_inputs():
    x = np.array([-1000.0, -700.0, 700.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = silu_forward(x)
        dx = silu_backward(np.ones_like(x), cache)
    # far below 0 silu(x) = x e^x is at most ~1e-301 in size (0 once it underflows)
    assert np.all(np.abs(out[:2]) < 1e-300) and np.all(out[:2] <= 0.0)
    np.testing.assert_array_equal(out[2:], [700.0, 1000.0])
    assert np.all(np.abs(dx[:2]) < 1e-290)
    np.testing.assert_array_equal(dx[2:], [1.0, 1.0])


def test_log_softmax_forward_and_backward():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, size=(2, 3, 6))
    out, _ = log_softmax_forward(x)
    np.testing.assert_allclose(np.exp(out).sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(out, x - np.log(np.exp(x).sum(axis=-1, keepdims=True)), rtol=1e-13)
    assert check_layer(log_softmax_forward, log_softmax_backward, [x]) < 1e-6


def test_temper_is_the_renormalized_power():
    rng = np.random.default_rng(4)
    log_p = log_softmax_forward(rng.normal(0.0, 2.0, size=(3, 5)))[0]
    assert temper(log_p, 1.0) is log_p                       # T = 1: the distribution itself
    entropy = lambda lp: -np.sum(np.exp(lp) * lp, axis=-1)
    for T in (0.3, 0.8, 2.0):
        p = np.exp(log_p) ** (1.0 / T)
        np.testing.assert_allclose(np.exp(temper(log_p, T)), p / p.sum(axis=-1, keepdims=True),
                                   rtol=1e-12)
        assert np.all(np.sign(entropy(temper(log_p, T)) - entropy(log_p)) == np.sign(T - 1.0))
    # a small temperature keeps the most likely token; float32 in, float64 out, -inf kept
    sharp = np.exp(temper(log_p, 1e-3))
    np.testing.assert_allclose(sharp[np.arange(3), log_p.argmax(axis=-1)], 1.0)
    out = temper(np.array([np.log(0.5), np.log(0.5), -np.inf], dtype=np.float32), 0.5)
    assert out.dtype == np.float64 and out[2] == -np.inf
    np.testing.assert_allclose(np.exp(out[:2]), 0.5, rtol=1e-15)


def test_log_softmax_is_stable_at_large_inputs():
    x = np.array([[1000.0, 0.0, -1000.0], [800.0, 800.0, 800.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = log_softmax_forward(x)
    np.testing.assert_array_equal(out[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(out[1], -np.log(3.0), rtol=1e-15)


# -- MLP -----------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "silu"])
@pytest.mark.parametrize("sizes", [[5, 8, 7, 3], [4, 6, 2], [3, 2]])
def test_mlp_gradient_for_every_parameter_and_the_input(activation, sizes):
    rng = np.random.default_rng(4)
    model = MLP(sizes, activation=activation, rng=np.random.default_rng(5), out_scale=0.5)
    for name, p in model.params.items():                     # zero biases would hide a db bug
        p += rng.normal(0.0, 0.3, size=p.shape)
    x = rng.normal(size=(6, sizes[0]))
    out, cache = model.forward(x)
    assert out.shape == (6, sizes[-1])
    if activation == "relu":
        # Keep away from the kink (see test_relu_...): every hidden pre-activation is at
        # least 1e-3 from 0, a hundred steps h, so no nudge crosses it.
        h = x
        for k in range(model.num_layers - 1):
            a = h @ model.params[f"W{k}"] + model.params[f"b{k}"]   # (6, sizes[k + 1])
            assert np.abs(a).min() > 1e-3
            h = np.maximum(a, 0.0)

    inputs = {"x": x, **model.params}                        # the model's own arrays, nudged in place

    def f(x, **params):
        return model.forward(x)[0]

    def analytic(dout):
        _, cache = model.forward(x)
        dx, grads = model.backward(dout, cache)
        assert set(grads) == set(model.params)
        return {"x": dx, **grads}

    assert gradcheck(f, inputs, analytic, rng=np.random.default_rng(6)) < 1e-6


def test_mlp_layers_and_initialization():
    model = MLP([8, 32, 1], activation="relu", rng=np.random.default_rng(0), out_scale=0.1)
    assert sorted(model.params) == ["W0", "W1", "b0", "b1"]
    assert model.params["W0"].shape == (8, 32) and model.params["b1"].shape == (1,)
    # He initialization N(0, 2 / fan_in), the output layer scaled by out_scale.
    big = MLP([400, 400, 400], rng=np.random.default_rng(1), out_scale=0.1)
    assert abs(big.params["W0"].std() / np.sqrt(2.0 / 400) - 1.0) < 0.01
    assert abs(big.params["W1"].std() / (0.1 * np.sqrt(2.0 / 400)) - 1.0) < 0.01
    same = MLP([8, 32, 1], activation="relu", rng=np.random.default_rng(0), out_scale=0.1)
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], same.params[name])


# -- Adam ----------------------------------------------------------------------
def test_adam_steps_match_the_formula_by_hand():
    lr, b1, b2, stabilizer = 0.01, 0.8, 0.95, 1e-6
    p0 = np.array([1.0, -2.0, 0.5])
    params = {"p": p0.copy()}
    opt = Adam(params, lr=lr, betas=(b1, b2), stabilizer=stabilizer)
    g1, g2 = np.array([0.3, -1.0, 0.0]), np.array([-0.2, 4.0, 1e-3])

    opt.step({"p": g1})
    first = (1 - b1) * g1
    second = (1 - b2) * g1 ** 2
    p1 = p0 - lr * (first / (1 - b1)) / (np.sqrt(second / (1 - b2)) + stabilizer)
    np.testing.assert_allclose(params["p"], p1, rtol=1e-15)
    # After one step the bias-corrected moments are g and g^2: the step is -lr * sign(g).
    np.testing.assert_allclose(params["p"] - p0, -lr * g1 / (np.abs(g1) + stabilizer),
                               rtol=1e-12)

    opt.lr = 0.5 * lr                                         # the schedule may change lr
    opt.step({"p": g2})
    first = b1 * first + (1 - b1) * g2
    second = b2 * second + (1 - b2) * g2 ** 2
    p2 = p1 - 0.5 * lr * (first / (1 - b1 ** 2)) / (np.sqrt(second / (1 - b2 ** 2))
                                                    + stabilizer)
    np.testing.assert_allclose(params["p"], p2, rtol=1e-15)


def test_adam_minimizes_a_quadratic():
    # f(p) = 1/2 (p - c)^T A (p - c), A positive definite with condition number ~100.
    rng = np.random.default_rng(7)
    U, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    A = U @ np.diag(np.geomspace(0.1, 10.0, 6)) @ U.T
    c = rng.normal(size=6)
    params = {"p": np.zeros(6)}
    opt = Adam(params, lr=0.05)
    f = lambda p: 0.5 * (p - c) @ A @ (p - c)                 # noqa: E731
    start = f(params["p"])
    steps = 2000
    for k in range(steps):
        opt.lr = 0.05 * (1.0 - k / steps)                     # linear decay to 0
        opt.step({"p": A @ (params["p"] - c)})
    assert f(params["p"]) < 1e-8 * start
    np.testing.assert_allclose(params["p"], c, atol=1e-4)


@pytest.mark.parametrize("bad, error, words", [
    (np.array([1.0, np.nan]), ValueError, "must be finite"),
    (np.array([1.0, np.inf]), ValueError, "must be finite"),
    (np.array([1.0, 1e200]), FloatingPointError, "too large"),   # g^2 overflows float64
])
def test_adam_refuses_a_bad_gradient_and_leaves_every_parameter_alone(bad, error, words):
    params = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
    opt = Adam(params, lr=0.1)
    opt.step({"a": np.array([0.5, -0.5]), "b": np.array([1.0])})     # one good step first
    before = {k: p.copy() for k, p in params.items()}
    moments = {k: (opt.first[k].copy(), opt.second[k].copy()) for k in params}
    with pytest.raises(error, match=words):
        opt.step({"a": np.array([0.1, 0.1]), "b": bad[1:]})            # "a" is fine, "b" is not
    for k in params:       # neither the parameters nor the moments nor the step count moved
        assert np.array_equal(params[k], before[k])
        assert np.array_equal(opt.first[k], moments[k][0])
        assert np.array_equal(opt.second[k], moments[k][1])
    assert opt.k == 1


# -- embedding: the first layer on a one-hot input ---------------------------------------------
def test_embedding_equals_the_one_hot_product_and_a_sum_of_rows():
    rng = np.random.default_rng(3)
    B, L, n, d = 7, 3, 4, 5
    ids = rng.integers(0, n, size=(B, L))
    W = rng.normal(size=(L, n, d))
    out, _ = embedding_forward(ids, W)
    onehot = np.zeros((B, L, n))
    np.put_along_axis(onehot, ids[:, :, None], 1.0, axis=2)
    np.testing.assert_allclose(out, onehot.reshape(B, L * n) @ W.reshape(L * n, d), rtol=1e-14)
    np.testing.assert_allclose(out, sum(W[i, ids[:, i]] for i in range(L)), rtol=1e-14)


def test_embedding_backward_is_a_scatter_add_and_matches_finite_differences():
    rng = np.random.default_rng(4)
    B, L, n, d = 9, 3, 4, 5
    ids = rng.integers(0, n, size=(B, L))
    ids[:3, 0] = 2                                   # rows used several times must add up
    W = rng.normal(size=(L, n, d))
    dout = rng.normal(size=(B, d))
    _, cache = embedding_forward(ids, W)
    dW = embedding_backward(dout, cache)
    expected = np.zeros((L, n, d))
    for i in range(L):
        np.add.at(expected[i], ids[:, i], dout)
    np.testing.assert_allclose(dW, expected, rtol=1e-14, atol=1e-15)
    unused = np.ones((L, n), dtype=bool)
    unused[np.arange(L)[None, :], ids] = False
    assert unused.any() and np.all(dW[unused] == 0.0)             # untouched rows get 0
    err = gradcheck(lambda W: embedding_forward(ids, W)[0], [W],
                    lambda g: [embedding_backward(g, embedding_forward(ids, W)[1])],
                    rng=np.random.default_rng(0))
    assert err < 1e-6


def test_embedding_keeps_float32():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 3, size=(4, 2))
    W = rng.normal(size=(2, 3, 6)).astype(np.float32)
    out, cache = embedding_forward(ids, W)
    assert out.dtype == np.float32
    assert embedding_backward(out, cache).dtype == np.float32


def test_mlp_float32_and_starting_at_a_later_layer():
    rng = np.random.default_rng(6)
    m64 = MLP([5, 7, 7, 3], "silu", rng=2)
    m32 = MLP([5, 7, 7, 3], "silu", rng=2, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in m32.params.values())
    assert all(np.array_equal(m32.params[k], m64.params[k].astype(np.float32)) for k in m64.params)
    x = rng.normal(size=(4, 5))
    out32, _ = m32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, m64.forward(x)[0], rtol=1e-4, atol=1e-5)
    # forward(h, start=1) runs the layers after the first: the same output from layer 0's output
    h0 = silu_forward(linear_forward(x, m64.params["W0"], m64.params["b0"])[0])[0]
    out, cache = m64.forward(h0, start=1)
    np.testing.assert_allclose(out, m64.forward(x)[0], rtol=1e-14)
    dh0, grads = m64.backward(np.ones_like(out), cache)
    assert set(grads) == {"W1", "b1", "W2", "b2"} and dh0.shape == h0.shape
    with pytest.raises(ValueError, match="dtype must be np.float64 or np.float32"):
        MLP([2, 2], dtype=np.int32)


def test_adam_gives_the_same_bits_together_or_one_parameter_at_a_time():
    # small parameters share one flat group per dtype, a large one is alone: the update is the
    # same arithmetic entry by entry, so it must not depend on who shares a call with whom
    rng = np.random.default_rng(5)
    shapes = {"big": (SMALL + 3,), "w": (7, 3), "b": (3,), "v": (2, 2, 2)}
    dtypes = {"big": np.float32, "w": np.float32, "b": np.float64, "v": np.float32}
    params = {k: rng.normal(size=s).astype(dtypes[k]) for k, s in shapes.items()}
    alone = {k: {k: p.copy()} for k, p in params.items()}
    together = Adam(params, lr=0.01)
    singles = {k: Adam(alone[k], lr=0.01) for k in params}
    assert len(together._groups) == 3          # big; w and v (float32); b (float64)
    for step in range(4):
        grads = {k: rng.normal(size=shapes[k]) * 10.0 ** (step - 2) for k in params}  # float64
        together.step(grads)
        for k in params:
            singles[k].step({k: grads[k]})
    for k in params:
        assert params[k].dtype == dtypes[k]
        assert np.array_equal(params[k], alone[k][k])
        # first and second are views of the moments, shaped like the parameters
        assert together.first[k].shape == shapes[k]
        assert np.array_equal(together.first[k], singles[k].first[k])
        assert np.array_equal(together.second[k], singles[k].second[k])
    assert list(together.first) == list(params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_last_and_max_last_are_numpys_bit_for_bit(dtype):
    rng = np.random.default_rng(11)
    for n in range(1, 11):                    # below SHORT (8) the fast path, from 8 NumPy's
        for shape in [(n,), (5, n), (64, 3, n)]:
            a = (rng.normal(size=shape) * rng.lognormal(0.0, 4.0, size=shape)).astype(dtype)
            a.reshape(-1)[::7] = -0.0                                  # signed zeros too
            expected_sum = a.sum(axis=-1, keepdims=True)
            got = sum_last(a)
            assert got.dtype == a.dtype and got.shape == expected_sum.shape
            assert np.array_equal(got, expected_sum)
            assert np.array_equal(np.signbit(got), np.signbit(expected_sum))
            assert np.array_equal(max_last(a), a.max(axis=-1, keepdims=True))
    half = rng.normal(size=(5, 4)).astype(np.float16)          # NumPy adds float16 in float32:
    assert np.array_equal(sum_last(half), half.sum(axis=-1, keepdims=True))   # its own sum
    strided = rng.normal(size=(6, 10)).astype(dtype)[:, ::2]           # not contiguous, n = 5
    assert np.array_equal(sum_last(strided), strided.sum(axis=-1, keepdims=True))
    assert np.array_equal(max_last(strided), strided.max(axis=-1, keepdims=True))
    zeros = np.full((3, 4), -0.0, dtype=dtype)                         # NumPy's sum starts at +0
    assert not np.signbit(sum_last(zeros)).any()
    with_nan = np.array([[1.0, np.nan, 3.0]], dtype=dtype)
    assert np.isnan(max_last(with_nan)).all() and np.isnan(sum_last(with_nan)).all()


@pytest.mark.parametrize("size", [3, SMALL])      # in the small parameters' group, or alone
def test_adam_refuses_a_float64_gradient_that_overflows_its_float32_parameter(size):
    params = {"w": np.zeros(size, dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}
    opt = Adam(params, lr=0.1)
    g = np.zeros(size)
    g[-1] = 1e39                                   # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"grads\['w'\] must be finite"):
        opt.step({"w": g, "b": np.ones(2)})
    assert opt.k == 0 and not params["w"].any() and not params["b"].any()


def test_adam_refuses_params_changed_after_it_was_made():
    # a parameter added later would never be updated (it has no moments): an error, not silence
    params = {"w": np.zeros(3)}
    opt = Adam(params, lr=0.1)
    params["v"] = np.zeros(2)
    with pytest.raises(ValueError, match="params must keep the keys Adam was made with"):
        opt.step({"w": np.ones(3), "v": np.ones(2)})


def test_embedding_backward_does_not_depend_on_ids_changed_after_the_forward_pass():
    rng = np.random.default_rng(4)
    ids, W = rng.integers(0, 4, size=(6, 3)), rng.normal(size=(3, 4, 5))
    dout = rng.normal(size=(6, 5))
    expected = embedding_backward(dout, embedding_forward(ids, W)[1])
    _, cache = embedding_forward(ids, W)
    ids[:] = 0                                     # the caller reuses its array
    np.testing.assert_array_equal(embedding_backward(dout, cache), expected)


def test_adam_and_the_weight_average_give_the_same_bits_on_one_or_two_threads():
    # with two threads allowed, the groups (and the average's arrays) are updated side by side;
    # elementwise work must not depend on who does it
    from minisedd import blas_threads
    from minisedd.train import move_average
    rng = np.random.default_rng(6)
    shapes = {"a": (SMALL + 5,), "b": (300, 300), "c": (9,), "d": (SMALL,)}
    start = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    grads = [{k: rng.normal(size=s) for k, s in shapes.items()} for _ in range(3)]
    results = []
    for threads in (1, 2):
        params = {k: p.copy() for k, p in start.items()}
        average = {k: np.zeros_like(p) for k, p in params.items()}
        scratch = {k: np.empty_like(p) for k, p in params.items()}
        opt = Adam(params, lr=0.01)
        with blas_threads(threads):
            for g in grads:
                opt.step(g)
                move_average(average, params, 0.1, scratch)
        results.append((params, average))
    for k in shapes:
        assert not np.array_equal(results[0][0][k], start[k])           # something happened
        assert np.array_equal(results[0][0][k], results[1][0][k])
        assert np.array_equal(results[0][1][k], results[1][1][k])


def test_adam_accepts_a_large_float32_gradient_whose_squares_are_finite():
    # the fast check sums the squares: 2 * (1.5e19)^2 = 4.5e38 overflows float32, each square
    # (2.25e38) does not, so Adam must take the step; a square that overflows must not
    params = {"w": np.zeros(2, dtype=np.float32)}
    opt = Adam(params, lr=0.1)
    opt.step({"w": np.full(2, 1.5e19, dtype=np.float32)})
    assert np.isfinite(params["w"]).all() and (params["w"] < 0).all()
    with pytest.raises(FloatingPointError, match="too large"):
        opt.step({"w": np.array([2e19, 0.0], dtype=np.float32)})


def test_keep_heap_nests_and_always_unwinds(monkeypatch):
    from minisedd import heap
    x = np.arange(1e5)
    with heap.keep_heap():
        with heap.keep_heap():
            assert heap._depth[0] == 2
            inside = float((x * x).sum())
    assert heap._depth[0] == 0 and inside == float((x * x).sum())
    with pytest.raises(KeyError):
        with heap.keep_heap():
            raise KeyError("inside")
    assert heap._depth[0] == 0
    monkeypatch.setattr(heap, "_glibc", lambda: None)     # no glibc: nothing to set, still nests
    with heap.keep_heap():
        assert heap._depth[0] == 1
    assert heap._depth[0] == 0


def test_run_split_runs_every_job_once_and_raises_a_helpers_error():
    import time
    from minisedd import blas_threads
    from minisedd.threads import PARALLEL_MIN, run_split
    big = PARALLEL_MIN               # below PARALLEL_MIN entries in all, jobs run in order
    for threads in (1, 2, 3):
        done = []
        with blas_threads(threads):
            run_split([(size * big, lambda size=size: done.append(size))
                       for size in (5, 1, 9, 2, 7)])
        assert sorted(done) == [1, 2, 5, 7, 9]

    finished = []

    def fail():
        raise ValueError("job failed")

    def slow():
        time.sleep(0.05)
        finished.append(True)
    # the error comes back only after every other job has finished, wherever it was raised
    for jobs in ([(3 * big, fail), (2 * big, slow)], [(3 * big, slow), (2 * big, fail)]):
        finished.clear()
        with blas_threads(2), pytest.raises(ValueError, match="job failed"):
            run_split(jobs)
        assert finished == [True]


def test_run_split_inside_a_job_runs_in_order_and_jobs_keep_the_callers_errstate():
    from minisedd import blas_threads
    from minisedd.threads import PARALLEL_MIN, run_split
    big, done = PARALLEL_MIN, []
    inner = lambda: run_split([(big, lambda: done.append("a")), (big, lambda: done.append("b"))])  # noqa: E731
    with blas_threads(2):
        run_split([(big, inner), (big, inner)])          # would wait on itself if it nested
    assert sorted(done) == ["a", "a", "b", "b"]
    with blas_threads(2), np.errstate(over="raise"), pytest.raises(FloatingPointError):
        run_split([(big, lambda: None), (big, lambda: np.float32(1e30) * np.float32(1e30))])


def test_adam_refuses_one_array_under_two_names():
    W = np.zeros(5)
    with pytest.raises(ValueError, match=r"params\['a'\] and params\['b'\] share memory"):
        Adam({"a": W, "b": W})
    with pytest.raises(ValueError, match="share memory"):
        Adam({"a": W, "b": W[1:3]})
