"""Training a score model with diffusion-weighted denoising score entropy (lesson 04).

One step, for a batch of clean sequences x0:

    t ~ U[t_min, 1],  sb = sigma_bar(t),  x_t ~ P_sb[x0, .]   (closed forms on Uniform /
                                                   Absorbing; a general Graph(Q) needs expm)
    loss = (1 - t_min) mean_b sigma(t_b) * dse(log_s(x_t, sb), x_t, x0, sb)   (nats per sequence)
    backward by hand, one Adam step.

The expected loss is the likelihood bound over t in [t_min, 1] (the factor 1 - t_min turns the
mean over t ~ U[t_min, 1] into the integral), so the training curve reads in nats. Three
choices lower the noise of this estimate without changing what it estimates:

- the rows of a batch come from shuffled passes over the data (every sequence as often as
  the data holds it), and the times are stratified (one t in each of B equal slices of
  [t_min, 1], shuffled), so each example still has t ~ U[t_min, 1];
- on the absorbing graph a sequence with no masked token has loss exactly 0, so x_t is drawn
  given at least one mask and its loss multiplied by P(at least one mask) (mask_at_least_one);
- the model returned holds an exponential moving average of the weights (EMA rate `ema`), as
  SEDD's own training does, after a cosine learning-rate schedule from lr down to lr / 10. The
  average is bias-corrected like Adam's moments: it weighs the iterates only, never the
  initialization.
"""
import functools
import inspect
import time

import numpy as np

from .checks import check_float, check_int, check_noise, check_rng, check_tokens
from .graphs import _draw
from .losses import _dse_loss
from .model import ScoreMLP
from .optim import Adam
from .score import SB_FLOOR, check_score
from .threads import computing, run_split
from .transformer import ScoreTransformer


def epoch_sampler(M, rng):
    """Row indices in shuffled epochs: every row once per pass over the data.

    Returns next_rows(k) -> int (k,). A batch then holds each sequence as often as the data
    does (up to one), instead of the luck of independent draws.
    """
    order, pos = rng.permutation(M), 0

    def next_rows(k):
        nonlocal order, pos
        out = []
        while k > 0:
            if pos == M:
                order, pos = rng.permutation(M), 0
            take = min(k, M - pos)
            out.append(order[pos:pos + take])
            pos, k = pos + take, k - take
        return np.concatenate(out)
    return next_rows


def mask_at_least_one(x0, sb, mask_id, rng):
    """Absorbing forward noise conditioned on at least one masked position.

    Unmasked positions carry no loss on the absorbing graph, so a sequence left clean
    contributes exactly 0. Drawing x_t given "at least one mask" and multiplying its loss by
    P(at least one mask) = 1 - e^{-L sb} leaves the expected loss unchanged and removes the
    rare, heavily weighted events at small t that dominate the gradient noise.
    x0: int (B, L); sb: (B,); mask_id: the mask token; rng: np.random.Generator.
    Returns (x_t (B, L), P(at least one mask) (B,)).
    """
    B, L = x0.shape
    m = -np.expm1(-sb)[:, None]                                         # (B, 1) mask probability
    any_mask = -np.expm1(-L * sb)                                       # (B,) 1 - (1 - m)^L
    # the first masked position j has P(j) = (1 - m)^j m / (1 - (1 - m)^L), j = 0..L-1,
    # with (1 - m)^j = e^{-j sb} (exact even where m is close to 1)
    j = np.arange(L)[None, :]
    first = np.exp(-sb[:, None] * j) * m / any_mask[:, None]            # (B, L)
    j0 = _draw(first, rng)                                             # (B,)
    masked = (rng.random((B, L)) < m) & (j > j0[:, None])               # after j0: independent
    masked |= j == j0[:, None]
    return np.where(masked, mask_id, x0), any_mask


def loss_and_grads(model, x0, x_t, sb, weight):
    """One step's weighted DSE loss and its gradients: (sum_b weight_b dse_b, grads dict).

    x0, x_t: int (B, L); sb: (B,) sigma_bar; weight: (B,) the factor of each sequence's loss.
    The kernels P of sb are computed once and shared by the model (if its forward takes
    `transition=`, as ScoreMLP's does) and the loss. The inputs are train's own draws, so
    the model's forward and the loss skip the checks of them (a model's _forward, _dse_loss).
    """
    graph = model.graph
    sb = np.maximum(sb, SB_FLOOR)
    P = graph._transition(sb)                                               # (B, n, n)
    if type(model).forward in _OWN_FORWARDS:   # train's own draws need no checks: _forward
        log_s, cache = model._forward(x_t, sb.astype(np.float64, copy=False), P)   # (B, L, n)
    elif _takes_transition(model):
        log_s, cache = model.forward(x_t, sb, transition=P)                 # (B, L, n)
    else:
        log_s, cache = model.forward(x_t, sb)
    loss, dlog_s = _dse_loss(graph, log_s, x_t, x0, P, sb)                  # (B,), (B, L, n)
    dlog_s *= weight[:, None, None].astype(dlog_s.dtype)
    grads = model.backward(dlog_s, cache)
    return float(np.sum(weight * loss)), grads


def move_average(average, params, rate, scratch):
    """average += rate * (params - average) for every array, in place (scratch: work arrays
    shaped like params, so that nothing is allocated). The arrays are independent: with more
    than one thread allowed they are updated side by side (threads.run_split)."""
    def update(k):
        np.subtract(params[k], average[k], out=scratch[k])
        scratch[k] *= rate
        average[k] += scratch[k]
    run_split([(p.size, functools.partial(update, k)) for k, p in params.items()])


def _takes_transition(model):
    """Whether model.forward accepts transition= (looked up once per class)."""
    cls = type(model)
    if cls not in _TAKES_TRANSITION:
        try:
            _TAKES_TRANSITION[cls] = "transition" in inspect.signature(cls.forward).parameters
        except (TypeError, ValueError, AttributeError):
            _TAKES_TRANSITION[cls] = False
    return _TAKES_TRANSITION[cls]


_TAKES_TRANSITION = {}
# the forwards whose checks loss_and_grads may skip: this package's networks, unless a subclass
# replaces forward (then its own forward runs, checks included)
_OWN_FORWARDS = (ScoreMLP.forward, ScoreTransformer.forward)


def train(model, data, noise, steps, batch_size=256, lr=3e-3, rng=None, t_min=1e-3,
          log_every=None, cosine=True, ema=0.999, printer=print, callback=None,
          callback_every=None):
    """Train `model` (a ScoreMLP) in place on the rows of `data` (M, L).

    noise: schedule (Geometric or LogLinear); steps: Adam steps; batch_size: sequences per step;
    lr: peak learning rate (a cosine schedule down to lr / 10 when cosine is True, else constant);
    rng: the randomness of batches, times and noise (None: fresh entropy, an int seed, or a
    np.random.Generator); t_min: the smallest training time t, in (0, 0.5];
    log_every: steps between progress lines (None: steps // 10, 0: silent); ema: EMA rate of the
    weight average copied into the model at the end (0: keep the last weights); printer: where
    progress lines go; callback: None, or a function callback(step, model) called after every
    `callback_every` steps (and after the last step) with model.params holding the weights that
    training would return if it stopped there (the average): for a validation measurement and
    keeping the best weights (copy them: model.params is restored to the running weights after
    the call, and training goes on exactly as without the callback, as long as the callback
    does not draw from train's own rng).
    Returns the loss history, a float array (steps,). Stops with FloatingPointError, before the
    update, at the first step whose loss or gradient is not finite.
    A float32 model trains in float32 (its Adam moments and weight average too); the loss is
    summed in float64. BLAS runs on blas_threads() threads (1 unless MINISEDD_THREADS says).
    """
    check_score(model, name="model")
    for attr in ("params", "forward", "backward"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be trainable (.params, .forward, .backward, like "
                            f"ScoreMLP); {type(model).__name__} has no .{attr}")
    for name, p in model.params.items():
        if not np.isfinite(p).all():
            raise ValueError(f"model.params[{name!r}] must be finite, got a non-finite value")
    check_noise("noise", noise)
    if not callable(printer):
        raise TypeError(f"printer must be callable (print, or a function taking a string), "
                        f"got {type(printer).__name__}")
    graph = model.graph
    data = check_tokens("data", data, graph.n_clean, ndim=2)
    if not graph.Q_in.any():
        raise ValueError(f"model.graph has no positive rate ({graph!r}): no token ever moves, so "
                         f"there is no noise to learn to reverse")
    if data.shape[0] == 0 or data.shape[1] != model.length:
        raise ValueError(f"data must have shape (M, {model.length}) with M >= 1, got {data.shape}")
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    rng = check_rng("rng", rng)
    t_min = check_float("t_min", t_min, low=0.0, low_open=True, high=0.5)
    if not isinstance(cosine, (bool, np.bool_)):
        raise TypeError(f"cosine must be True or False, got {cosine!r}")
    ema = check_float("ema", ema, low=0.0, high=1.0)
    if ema == 1.0:
        raise ValueError("ema must be < 1 (1 would never move the average), got 1.0")
    log_every = steps // 10 if log_every is None else check_int("log_every", log_every, low=0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a function callback(step, model), got "
                        f"{type(callback).__name__}")
    if callback_every is not None:
        if callback is None:
            raise ValueError("callback_every needs a callback")
        callback_every = check_int("callback_every", callback_every, low=1)

    with computing():   # one BLAS thread unless asked, freed memory kept: threads.py
        next_rows = epoch_sampler(data.shape[0], rng)
        opt = Adam(model.params, lr=lr)
        history = np.empty(steps)
        average = {k: np.zeros_like(p) for k, p in model.params.items()}   # EMA of the weights
        scratch = {k: np.empty_like(p) for k, p in model.params.items()}
        start = time.perf_counter()
        for step in range(steps):
            if cosine:   # cosine from lr down to lr / 10
                opt.lr = lr * (0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * step / steps)))
            x0 = data[next_rows(batch_size)]                                # (B, L)
            strata = (rng.permutation(batch_size) + rng.random(batch_size)) / batch_size
            t = t_min + (1.0 - t_min) * strata                              # (B,) t ~ U[t_min, 1]
            sb = noise.total(t)                                             # sigma_bar(t)
            if graph.kind == "absorbing":
                x_t, p_any = mask_at_least_one(x0, sb, graph.mask_id, rng)
            else:
                x_t, p_any = graph.sample_transition(x0, sb, rng), 1.0
            weight = p_any * (1.0 - t_min) * noise.rate(t) / batch_size       # sigma(t) / B
            try:    # an overflow or invalid value (a diverging run) stops training here, at once
                with np.errstate(over="raise", invalid="raise"):
                    history[step], grads = loss_and_grads(model, x0, x_t, sb, weight)
            except FloatingPointError as err:
                raise FloatingPointError(f"training stopped at step {step + 1}: {err} in the loss "
                                         f"or its gradient (not finite); the parameters were not "
                                         f"updated") from None
            if not np.isfinite(history[step]):
                raise FloatingPointError(f"training stopped at step {step + 1}: the loss is "
                                         f"{history[step]} (not finite); the parameters were not "
                                         f"updated")
            try:    # Adam checks every gradient (finite, and its square) before it changes anything
                opt.step(grads)
            except (ValueError, FloatingPointError) as err:
                if isinstance(err, ValueError) and "must be finite" not in str(err):
                    raise                     # a wrong key or shape: a bug in the model
                raise FloatingPointError(f"training stopped at step {step + 1}: {err}; the "
                                         f"parameters were not updated") from None
            move_average(average, model.params, 1.0 - ema, scratch)
            if callback is not None and (step + 1 == steps or (
                    callback_every is not None and (step + 1) % callback_every == 0)):
                _call_with_average(callback, step + 1, model, average, ema)
            if log_every and ((step + 1) % log_every == 0 or step == 0):
                rate = (step + 1) / (time.perf_counter() - start)
                printer(f"step {step + 1:5d}/{steps}  loss {history[step]:8.4f}  "
                        f"({rate:6.0f} steps/s)")
    if ema > 0:
        _set_average(model.params, average, ema, steps)
    return history


def _set_average(params, average, ema, steps):
    """The average started at 0: divide by the total weight 1 - ema^steps of the iterates."""
    for k, p in params.items():
        p[...] = average[k] / (1.0 - ema ** steps)


def _call_with_average(callback, step, model, average, ema):
    """callback(step, model) with the average in model.params; the running weights after."""
    running = {k: p.copy() for k, p in model.params.items()}
    if ema > 0:
        _set_average(model.params, average, ema, step)
    try:
        callback(step, model)
    finally:
        for k, p in model.params.items():
            p[...] = running[k]
