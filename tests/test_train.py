"""Training with diffusion-weighted DSE (minisedd/train.py; lesson 04).

Claims checked:
- a few hundred steps lower the loss (mean of the last 50 steps well below the first 50),
  on both toy graphs, and the trained weights (ema=0) have a lower exact NELBO than the
  initial ones;
- the history is a float array with one finite entry per step, and progress lines report
  the step, the loss and the speed;
- the same seed gives bit-identical histories and parameters, another seed differs;
- a learning rate so large that the loss stops being finite ends training at once with a
  FloatingPointError naming the step, without warnings, and leaves the parameters exactly
  as they were after the last good step (what the same run stopped one step earlier gives);
- a callback sees, at step k, the weights a run of k steps returns, and training with it is
  bit-identical to training without it;
- the training step skips the input checks of ScoreMLP's own forward and gives the numbers of
  the public forward to the bit (also for a schedule in float32); a subclass that replaces
  forward is trained through it.
"""
import re

import numpy as np
import pytest

from threadpoolctl import threadpool_limits

from minisedd import (MADE, TOY_N_CLEAN, TOY_SENTENCES, ScoreMLP, blas_threads, nelbo, problem,
                      train)
from minisedd.train import loss_and_grads


def copy_params(model):
    return {k: p.copy() for k, p in model.params.items()}


def same_params(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_a_few_hundred_steps_lower_the_loss(kind):
    graph, noise = problem(kind, TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=16, rng=0)
    history = train(model, TOY_SENTENCES, noise, 300, batch_size=64, rng=0, log_every=0)
    assert history.shape == (300,) and history.dtype == np.float64
    assert np.isfinite(history).all() and history.min() >= 0.0
    first, last = history[:50].mean(), history[-50:].mean()
    # measured: about 5.9 -> 1.7 (uniform) and 5.2 -> 1.8 (absorbing); log 6 = 1.79 is the floor
    assert last < 0.5 * first, f"loss {first:.3f} -> {last:.3f}"


def test_trained_weights_have_a_lower_bound():
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=16, rng=0)
    before = nelbo(model, noise, TOY_SENTENCES)[0].mean()
    train(model, TOY_SENTENCES, noise, 300, batch_size=64, rng=0, log_every=0, ema=0.0)
    after = nelbo(model, noise, TOY_SENTENCES)[0].mean()
    assert after < before - 1.0, f"NELBO {before:.3f} -> {after:.3f}"
    assert after >= np.log(6.0) - 1e-4       # the bound stays above the data entropy


def test_progress_lines_report_step_loss_and_speed():
    graph, noise = problem("uniform", TOY_N_CLEAN)
    lines = []
    train(ScoreMLP(graph, 4, hidden=8, rng=0), TOY_SENTENCES, noise, 20, batch_size=8, rng=0,
          log_every=5, printer=lines.append)
    assert len(lines) == 5                   # step 1, then every 5 steps
    for line, step in zip(lines, [1, 5, 10, 15, 20]):
        assert re.search(rf"step\s+{step}/20\s+loss\s+\d+\.\d+\s+\(\s*\d+ steps/s\)", line), line
    silent = []
    train(ScoreMLP(graph, 4, hidden=8, rng=0), TOY_SENTENCES, noise, 5, batch_size=8, rng=0,
          log_every=0, printer=silent.append)
    assert silent == []


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_same_seed_same_history_and_parameters(kind):
    graph, noise = problem(kind, TOY_N_CLEAN)
    runs = []
    for seed in (3, 3, 4):
        model = ScoreMLP(graph, 4, hidden=8, rng=0)
        history = train(model, TOY_SENTENCES, noise, 30, batch_size=16, rng=seed, log_every=0)
        runs.append((history, copy_params(model)))
    (h1, p1), (h2, p2), (h3, p3) = runs
    assert np.array_equal(h1, h2) and same_params(p1, p2)               # bit-identical
    assert not np.array_equal(h1, h3) and not same_params(p1, p3)
    model = ScoreMLP(graph, 4, hidden=8, rng=0)          # a Generator seeded alike: the same run
    history = train(model, TOY_SENTENCES, noise, 30, batch_size=16, rng=np.random.default_rng(3),
                    log_every=0)
    assert np.array_equal(history, h1) and same_params(copy_params(model), p1)


@pytest.mark.parametrize("kind, lr, cause", [
    ("absorbing", 1e3, "the loss is inf"),         # pi underflows to 0: a log-score of -inf
    ("uniform", 1e200, "overflow"),                # the weights overflow a matrix product
])
def test_a_non_finite_loss_stops_at_once_and_keeps_the_parameters(kind, lr, cause):
    graph, noise = problem(kind, TOY_N_CLEAN)
    settings = dict(batch_size=16, lr=lr, rng=1, cosine=False, ema=0.0, log_every=0)
    model = ScoreMLP(graph, 4, hidden=8, rng=2)
    with pytest.raises(FloatingPointError, match=r"stopped at step (\d+)") as info:
        train(model, TOY_SENTENCES, noise, 100, **settings)   # a RuntimeWarning would fail here
    message = str(info.value)
    assert cause in message and "not updated" in message
    step = int(re.search(r"step (\d+)", message).group(1))  # counted from 1, as progress lines
    assert step >= 2                                          # it did train before failing
    # the same run stopped just before that step ends with exactly these parameters
    reference = ScoreMLP(graph, 4, hidden=8, rng=2)
    history = train(reference, TOY_SENTENCES, noise, step - 1, **settings)
    assert np.isfinite(history).all()
    assert same_params(copy_params(model), copy_params(reference))
    assert all(np.isfinite(p).all() for p in model.params.values())


# -- threads and float32 -------------------------------------------------------------------
def test_training_uses_one_blas_thread_whatever_the_process_default():
    """train limits BLAS to blas_threads() (1 thread) itself: a process whose BLAS would use
    2 threads gets the same numbers, bit for bit, as one limited to 1. (OpenBLAS does not
    promise equal sums on 1 and 2 threads: float32 products of these shapes differ in the last
    bits, so without the limit the run would depend on the machine.)"""
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    results = []
    for threads in (1, 2):
        model = ScoreMLP(graph, 4, hidden=64, rng=0, dtype=np.float32)
        with threadpool_limits(limits=threads, user_api="blas"):
            history = train(model, TOY_SENTENCES, noise, 20, rng=0, log_every=0)
        results.append((history, copy_params(model)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert all(np.array_equal(results[0][1][k], results[1][1][k]) for k in results[0][1])


def test_direct_calls_of_a_network_use_minisedd_s_threads_too():
    """A network's own methods (log_score, forward, MADE.log_likelihood, ...) called directly
    run under blas_threads() too: the same bits whatever the caller's BLAS setting, as train,
    sample and nelbo give. float32 products of these shapes differ between 1 and 2 OpenBLAS
    threads on a 2-core machine."""
    graph, _ = problem("absorbing", 27)
    model = ScoreMLP(graph, 14, hidden=512, depth=2, rng=0, dtype=np.float32)
    made = MADE(28, 14, hidden=512, depth=2, rng=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 28, size=(256, 14))
    rows = np.sort(rng.integers(0, 28, size=(256, 14)), axis=1)[:, ::-1]   # letters, then ends
    results, unlimited = [], []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            results.append((model.log_score(x, np.full(256, 0.5)), made.log_likelihood(rows)))
            unlimited.append(type(made).forward.__wrapped__(made, rows)[0])   # no limit
    if np.array_equal(*unlimited):
        pytest.skip("1 and 2 BLAS threads give the same bits on this machine: nothing to test")
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_blas_threads_default_and_nesting(monkeypatch):
    monkeypatch.delenv("MINISEDD_THREADS", raising=False)
    with blas_threads() as n:
        assert n == 1
    monkeypatch.setenv("MINISEDD_THREADS", "2")
    with blas_threads() as n:
        assert n == 2
    with blas_threads(1):
        with blas_threads() as n:      # an enclosing call wins over the default
            assert n == 1
    monkeypatch.setenv("MINISEDD_THREADS", "zero")
    with pytest.raises(ValueError, match="MINISEDD_THREADS must be an integer >= 1"):
        with blas_threads():
            pass
    with pytest.raises(ValueError, match="n must be >= 1"):
        with blas_threads(0):
            pass


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_float32_training_stays_float32_and_learns(kind):
    graph, noise = problem(kind, TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=64, rng=0, dtype=np.float32)
    history = train(model, TOY_SENTENCES, noise, 300, rng=0, log_every=0)
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert history[-50:].mean() < 0.8 * history[:50].mean()


def test_callback_sees_the_weights_of_a_shorter_run_and_changes_nothing():
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    settings = dict(batch_size=16, rng=3, log_every=0, cosine=False, ema=0.9)
    seen = {}

    def callback(step, model):
        seen[step] = copy_params(model)
        for p in model.params.values():      # a careless callback: its changes are discarded
            p += 1.0

    model = ScoreMLP(graph, 4, hidden=8, rng=0)
    history = train(model, TOY_SENTENCES, noise, 12, callback=callback, callback_every=5,
                    **settings)
    assert sorted(seen) == [5, 10, 12]                        # every 5 steps, and the last
    plain = ScoreMLP(graph, 4, hidden=8, rng=0)
    assert np.array_equal(train(plain, TOY_SENTENCES, noise, 12, **settings), history)
    assert same_params(copy_params(plain), copy_params(model))
    assert same_params(seen[12], copy_params(model))
    for k in (5, 10):                        # the average after k steps = a k-step run's result
        short = ScoreMLP(graph, 4, hidden=8, rng=0)
        train(short, TOY_SENTENCES, noise, k, **settings)
        assert same_params(seen[k], copy_params(short))


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
@pytest.mark.parametrize("logit", [-95.0, -99.0, -150.0])
@pytest.mark.parametrize("sb", [0.5, 3.0])
def test_float32_model_sure_of_a_wrong_token_matches_float64(kind, logit, sb):
    # a network whose logit for the clean token is far below the others: in float32, e^logit
    # is subnormal (below e^-87) or 0 (below e^-104), and the absorbing map e^-sb pi(y) with it;
    # the loss was then log 0 = inf or the gradient overflowed, and training stopped. Such a
    # batch now takes its score map in float64, so loss and gradient match a float64 model's.
    graph, _ = problem(kind, TOY_N_CLEAN)
    x0 = TOY_SENTENCES[:2]                                   # both start with token 1
    x_t = x0.copy()
    x_t[:, 0] = graph.mask_id if kind == "absorbing" else 2  # masked / a wrong word
    results = {}
    for dtype in (np.float32, np.float64):
        model = ScoreMLP(graph, 4, hidden=16, rng=0, dtype=dtype)
        last = model.net.num_layers - 1
        model.params[f"W{last}"][...] = 0.0
        model.params[f"b{last}"][...] = 0.0
        model.params[f"b{last}"].reshape(4, -1)[:, 1] = logit
        results[dtype] = loss_and_grads(model, x0, x_t, np.array([sb, sb]), np.ones(2))
    (loss32, grads32), (loss64, grads64) = results[np.float32], results[np.float64]
    assert np.isfinite(loss32) and loss32 == pytest.approx(loss64, rel=1e-5)
    if kind == "absorbing":          # the masked clean token costs -log pi(x0) / expm1(sb) each
        n_clean = graph.n_clean
        expected = 2 * (-logit + np.log(n_clean - 1)) / np.expm1(sb)
        assert loss64 == pytest.approx(expected, rel=1e-9)
    for key, g in grads32.items():
        assert g.dtype == np.float32 and np.isfinite(g).all(), key
        scale = np.abs(grads64[key]).max() + 1e-30
        assert np.abs(g - grads64[key]).max() <= 1e-4 * scale, key


def test_a_subclass_that_replaces_forward_is_trained_through_it():
    # train skips the input checks of ScoreMLP's own forward (its draws are its own), but a
    # subclass's forward must still be the one that runs
    graph, noise = problem("absorbing", TOY_N_CLEAN)
    calls = []

    class Counted(ScoreMLP):
        def forward(self, x_t, sigma_bar, transition=None):
            calls.append(len(x_t))
            return super().forward(x_t, sigma_bar, transition=transition)

    train(Counted(graph, 4, hidden=8, rng=0), TOY_SENTENCES, noise, 3, batch_size=16, rng=0,
          log_every=0)
    assert calls == [16, 16, 16]


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
@pytest.mark.parametrize("sb_dtype", [np.float64, np.float32])
def test_the_check_free_forward_gives_the_numbers_of_the_public_one(kind, sb_dtype):
    # loss_and_grads skips ScoreMLP.forward's checks; a subclass with its own forward goes
    # through the public one: the two must agree to the bit, also for a float32 schedule
    class Public(ScoreMLP):
        def forward(self, x_t, sigma_bar, transition=None):
            return super().forward(x_t, sigma_bar, transition=transition)

    graph, noise = problem(kind, TOY_N_CLEAN)
    rng = np.random.default_rng(0)
    x0 = TOY_SENTENCES[rng.integers(0, 6, size=32)]
    sb = noise.total(rng.random(32)).astype(sb_dtype)
    x_t = graph.sample_transition(x0, sb, rng)
    results = []
    for cls in (ScoreMLP, Public):
        model = cls(graph, 4, hidden=8, rng=0, dtype=np.float32)
        results.append(loss_and_grads(model, x0, x_t, sb, np.full(32, 0.1)))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == loss_b
    assert all(np.array_equal(grads_a[k], grads_b[k]) for k in grads_a)
