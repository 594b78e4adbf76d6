"""The gradient checker itself (minisedd/gradcheck.py).

Every other gradient test trusts gradcheck, so it is tested on functions whose gradients
are known in closed form. Claims checked:
- a correct gradient gives a tiny error, a wrong one (a missing term, one flipped sign,
  a wrong second input) an error above 1e-2;
- inputs may be a single array, a list (or tuple), or a dict, with analytic gradients in
  the same structure;
- an array-valued f is projected on a random upstream gradient dout of its shape: an
  analytic(dout) that uses dout passes, one that ignores it fails;
- the inputs are nudged one entry at a time by +-h and restored bit for bit afterwards;
- max_entries limits how many entries are nudged.
"""
import numpy as np
import pytest

from minisedd import gradcheck


def smooth(x):
    """f(x) = sum(x^2 sin(x)), with gradient 2 x sin(x) + x^2 cos(x)."""
    return float(np.sum(x ** 2 * np.sin(x)))


def smooth_grad(x):
    return 2 * x * np.sin(x) + x ** 2 * np.cos(x)


def test_a_correct_gradient_gives_a_small_error():
    x = np.random.default_rng(0).normal(size=(4, 5))
    assert gradcheck(smooth, x, smooth_grad(x), rng=0) < 1e-8


def test_a_wrong_gradient_gives_a_large_error():
    x = np.random.default_rng(1).normal(size=(4, 5))
    forgot_product_rule = x ** 2 * np.cos(x)                  # missing 2 x sin(x)
    assert gradcheck(smooth, x, forgot_product_rule, rng=0) > 1e-2
    one_sign = smooth_grad(x)
    k = np.argmax(np.abs(one_sign))
    one_sign.flat[k] *= -1.0                                  # one entry wrong among 20
    assert gradcheck(smooth, x, one_sign, rng=0) > 1e-2
    assert gradcheck(smooth, x, 1.05 * smooth_grad(x), rng=0) > 1e-2  # 5% too large everywhere


def two_inputs(a, b):
    """f(a, b) = sum(tanh(a @ b)): a (3, 4), b (4, 2)."""
    return float(np.sum(np.tanh(a @ b)))


def two_inputs_grads(a, b):
    dpre = 1.0 - np.tanh(a @ b) ** 2                          # (3, 2)
    return dpre @ b.T, a.T @ dpre


@pytest.mark.parametrize("container", [list, tuple])
def test_a_list_of_inputs(container):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    da, db = two_inputs_grads(a, b)
    assert gradcheck(two_inputs, container([a, b]), container([da, db]), rng=0) < 1e-8
    assert gradcheck(two_inputs, container([a, b]), container([da, -db]), rng=0) > 1e-2  # error in the 2nd


def test_a_dict_of_inputs_matched_by_name():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    da, db = two_inputs_grads(a, b)
    assert gradcheck(two_inputs, {"a": a, "b": b}, {"b": db, "a": da}, rng=0) < 1e-8
    # Swapped names: a dict of gradients is matched by key, not by position (shapes differ
    # here, so this is a clear error rather than a silent mix-up).
    with pytest.raises(ValueError, match="shape"):
        gradcheck(two_inputs, {"a": a, "b": b}, {"a": db, "b": da}, rng=0)
    b2 = rng.normal(size=(4, 2))
    assert gradcheck(two_inputs, {"a": a, "b": b}, {"a": da, "b": two_inputs_grads(a, b2)[1]}, rng=0) > 1e-2


def test_array_outputs_are_projected_on_a_random_upstream_gradient():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(6, 3))
    x = rng.normal(size=3)
    f = lambda x: np.sin(A @ x)                               # noqa: E731  (6,) output
    seen = []

    def backward(dout):                                       # d/dx sum(dout * sin(A x))
        seen.append(dout.copy())
        return A.T @ (dout * np.cos(A @ x))

    assert gradcheck(f, x, backward, rng=np.random.default_rng(5)) < 1e-8
    assert len(seen) == 1 and seen[0].shape == (6,)
    assert np.unique(seen[0]).size == 6                       # random, not all ones
    # A backward pass that ignores dout (computes the gradient of sum(f)) is caught.
    ignores_dout = lambda dout: A.T @ np.cos(A @ x)           # noqa: E731
    assert gradcheck(f, x, ignores_dout, rng=np.random.default_rng(5)) > 1e-2
    # Another seed draws another dout: the check does not hinge on one projection.
    gradcheck(f, x, backward, rng=np.random.default_rng(6))
    assert not np.array_equal(seen[0], seen[1])


def test_inputs_are_nudged_one_entry_at_a_time_and_restored():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    a0, b0 = a.copy(), b.copy()
    h = 1e-5
    changes = []

    def watched(a, b):
        diff = np.concatenate([(a - a0).ravel(), (b - b0).ravel()])
        changes.append(diff[diff != 0.0])
        return two_inputs(a, b)

    gradcheck(watched, [a, b], two_inputs_grads(a, b), h=h, rng=0)
    assert a.tobytes() == a0.tobytes() and b.tobytes() == b0.tobytes()   # bit for bit
    assert len(changes) == 1 + 2 * (a.size + b.size)          # one plain call, two per entry
    assert changes[0].size == 0
    for diff in changes[1:]:
        assert diff.size == 1 and abs(abs(diff[0]) - h) < 4e-15   # x + h - x = h up to one ulp of x
    # The same holds for a dict, and when f reads the arrays from elsewhere (as a model
    # reads its params): the nudges reach it because they happen in place.
    params = {"a": a, "b": b}
    ignore_args = lambda **kw: two_inputs(params["a"], params["b"])  # noqa: E731
    da, db = two_inputs_grads(a, b)
    assert gradcheck(ignore_args, params, {"a": da, "b": db}, rng=0) < 1e-8
    assert a.tobytes() == a0.tobytes() and b.tobytes() == b0.tobytes()


def test_max_entries_limits_the_nudged_entries():
    x = np.random.default_rng(8).normal(size=(5, 4))
    calls = []

    def counted(x):
        calls.append(1)
        return smooth(x)

    assert gradcheck(counted, x, smooth_grad(x), max_entries=3, rng=np.random.default_rng(9)) < 1e-8
    assert len(calls) == 1 + 2 * 3


def test_float32_inputs_are_refused():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(smooth, x, smooth_grad(x), rng=0)
