"""MADE: the backward pass, the autoregressive property, an exact likelihood, training, checkpoints."""
import itertools

import numpy as np
import pytest

from minisedd.autoregressive import MADE, made_masks, train_autoregressive
from minisedd.gradcheck import gradcheck
from minisedd.surnames import CharCorpus, is_wellformed


def all_wellformed_rows(n, L):
    rows = np.array(list(itertools.product(range(n), repeat=L)))
    return rows[is_wellformed(rows)]


def random_rows(rng, n, L, B):
    """B well-formed rows: random letters up to a random end, then end markers."""
    x = rng.integers(1, n, size=(B, L))
    ends = rng.integers(0, L + 1, size=B)                    # L: no end marker in the row
    x[np.arange(L)[None, :] >= ends[:, None]] = 0
    return x


@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(0)
    model = MADE(4, 5, hidden=9, depth=2, activation=activation, rng=1)
    for p in model.params.values():     # biases away from 0 too; masked weights stay unused
        p += 0.1 * rng.normal(size=p.shape)
    x = random_rows(rng, 4, 5, 6)

    def f(**params):
        return model.forward(x)[0]

    def analytic(dout):
        return model.backward(dout, model.forward(x)[1])

    # relu has kinks, but with h = 1e-5 no pre-activation of this seeded case crosses one
    assert gradcheck(f, model.params, analytic, rng=rng) < 1e-6


def test_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    model = MADE(3, 4, hidden=7, depth=1, activation="silu", rng=0)
    x = random_rows(rng, 3, 4, 5)
    _, dlog_probs, cache = model.loss(x)
    grads = model.backward(dlog_probs, cache)
    assert gradcheck(lambda **p: model.loss(x)[0], model.params, grads, rng=rng) < 1e-6


def test_autoregressive_property_exactly():
    rng = np.random.default_rng(3)
    L, n = 6, 5
    model = MADE(n, L, hidden=16, depth=2, rng=4)
    x = rng.integers(0, n, size=(4, L))
    base = model.forward(x)[0]
    for i in range(L):
        y = x.copy()
        y[:, i:] = rng.integers(0, n, size=(4, L - i))       # change x_j for every j >= i
        changed = model.forward(y)[0]
        assert np.array_equal(changed[:, :i + 1], base[:, :i + 1])
        if i + 1 < L:    # and x_i does reach a later position (the masks are not all zero)
            assert not np.array_equal(changed[:, i + 1:], base[:, i + 1:])
    # the masks connect input j to output i exactly when j < i
    reach = made_masks(L, 1, 16, 2)
    path = reach[0] @ reach[1] @ reach[2]                    # (L, L) paths from j to i
    assert np.array_equal(path > 0, np.triu(np.ones((L, L), dtype=bool), k=1))


@pytest.mark.parametrize("temperature", [1.0, 0.4, 2.5])
def test_likelihood_sums_to_one_over_all_rows(temperature):
    model = MADE(3, 4, hidden=8, depth=2, rng=5)
    rng = np.random.default_rng(6)
    for p in model.params.values():                          # far from uniform outputs
        p += 0.5 * rng.normal(size=p.shape)
    rows = all_wellformed_rows(3, 4)                         # 1 + 2 + 4 + 8 + 16 = 31 rows
    assert len(rows) == 31
    log_p = model.log_likelihood(rows, temperature=temperature)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-9)
    # the tempered model's entropy is below the model's for T < 1 and above it for T > 1
    base = model.log_likelihood(rows)
    entropy = -np.sum(np.exp(log_p) * log_p)
    assert np.sign(entropy + np.sum(np.exp(base) * base)) == np.sign(temperature - 1.0)
    bad = np.array([[1, 0, 2, 0]])                           # a letter after the end
    assert np.isneginf(model.log_likelihood(bad))[0]


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_follows_the_model(temperature):
    rng = np.random.default_rng(7)
    model = MADE(3, 3, hidden=8, depth=1, rng=8)
    for p in model.params.values():
        p += rng.normal(size=p.shape)
    rows = all_wellformed_rows(3, 3)                         # 15 rows
    p = np.exp(model.log_likelihood(rows, temperature=temperature))
    samples = model.sample(20_000, rng=9, temperature=temperature)
    place = 3 ** np.arange(3)
    freq = np.bincount(samples @ place, minlength=27)[rows @ place] / len(samples)
    assert freq.sum() == 1.0                                 # all samples well formed
    z = (freq - p) / np.sqrt(p * (1 - p) / len(samples))
    assert np.abs(z).max() < 4.5


@pytest.fixture(scope="module")
def tiny():
    return CharCorpus(["anna", "hannah", "nan", "ann", "hanna", "nanna", "ah", "ha"],
                      split=(0.75, 0.25, 0.0), rng=0)


def test_training_lowers_the_nll(tiny):
    model = MADE(tiny.n_clean, tiny.length, hidden=32, depth=2, rng=0)
    before = model.nll_per_char(tiny.train)
    lines = []
    history = train_autoregressive(model, tiny.train, 150, batch_size=6, lr=1e-2, rng=0,
                                   printer=lines.append, log_every=50)
    assert history["loss"].shape == (150,) and len(lines) == 4
    assert model.nll_per_char(tiny.train) < 0.5 * before
    assert history["best_step"] is None


def test_best_checkpoint_is_restored(tiny):
    model = MADE(tiny.n_clean, tiny.length, hidden=32, depth=2, rng=0)
    history = train_autoregressive(model, tiny.train, 200, batch_size=6, lr=1e-2, rng=0,
                                   valid=tiny.valid, eval_every=10, log_every=0)
    v = history["valid_nll"]
    assert len(v) == 20 and history["eval_step"][-1] == 200
    assert history["best_valid_nll"] == v.min()
    assert history["best_step"] == history["eval_step"][np.argmin(v)]
    assert v.argmin() < len(v) - 1            # the held-out words are overfitted after a while
    assert model.nll_per_char(tiny.valid) == pytest.approx(v.min(), rel=1e-12)


def test_float32_trains_like_float64(tiny):
    losses = []
    for dtype in (np.float64, np.float32):
        model = MADE(tiny.n_clean, tiny.length, hidden=16, depth=1, rng=0, dtype=dtype)
        h = train_autoregressive(model, tiny.train, 20, batch_size=6, lr=1e-2, rng=0,
                                 log_every=0)
        assert all(p.dtype == dtype for p in model.params.values())
        losses.append(h["loss"])
    assert np.allclose(losses[0], losses[1], atol=1e-4)


def test_save_load_round_trip(tmp_path, tiny):
    model = MADE(tiny.n_clean, tiny.length, hidden=8, depth=2, activation="silu", rng=1,
                 dtype=np.float32)
    path = tmp_path / "made.npz"
    model.meta = {"record": {"steps": [1, 2], "seconds": 0.5}}
    model.save(path)
    again = MADE.load(path)
    assert again.dtype == np.float32 and again.activation == "silu"
    assert again.meta == model.meta
    assert all(np.array_equal(again.params[k], p) for k, p in model.params.items())
    assert np.array_equal(again.log_likelihood(tiny.train), model.log_likelihood(tiny.train))
    assert np.array_equal(again.sample(4, rng=2), model.sample(4, rng=2))
    # a version-1 file (before meta was stored) still loads, with an empty meta
    with np.load(path) as data:
        old = {k: data[k] for k in data.files if k != "meta"}
    old["format_version"] = np.array(1)
    np.savez(tmp_path / "v1.npz", **old)
    v1 = MADE.load(tmp_path / "v1.npz")
    assert v1.meta == {} and all(np.array_equal(v1.params[k], p) for k, p in model.params.items())
    model.meta = {"weights": np.zeros(2)}
    with pytest.raises(TypeError, match="meta must hold JSON values"):
        model.save(tmp_path / "bad.npz")
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something else"))
    with pytest.raises(ValueError, match="not a minisedd MADE checkpoint"):
        MADE.load(other)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz.*not an \.npz \(zip\) archive"):
        MADE.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="not a file"):
        MADE.load(tmp_path / "missing.npz")


def test_bad_input(tiny):
    with pytest.raises(ValueError, match="n_symbols"):
        MADE(1, 4)
    with pytest.raises(TypeError, match="hidden"):
        MADE(3, 4, hidden=2.5)
    with pytest.raises(ValueError, match="activation"):
        MADE(3, 4, activation="tanh")
    with pytest.raises(ValueError, match="dtype"):
        MADE(3, 4, dtype=np.int32)
    model = MADE(3, 4, hidden=4, depth=1)
    with pytest.raises(ValueError, match="x must have shape"):
        model.forward(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="x must hold token ids"):
        model.log_likelihood(np.full((1, 4), 3))
    with pytest.raises(ValueError, match="data must be words"):
        train_autoregressive(model, np.array([[1, 0, 2, 0]]), 1)
    with pytest.raises(TypeError, match="model must be an autoregressive model"):
        train_autoregressive("model", tiny.train, 1)
    with pytest.raises(ValueError, match="steps"):
        train_autoregressive(model, np.array([[1, 0, 0, 0]]), 0)
    with pytest.raises(TypeError, match="rng"):
        model.sample(2, rng=1.5)
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="temperature must be"):
            model.sample(2, rng=0, temperature=bad)
        with pytest.raises(ValueError, match="temperature must be"):
            model.log_likelihood(np.ones((1, 4), dtype=int), temperature=bad)
