"""Benchmark: how fast minisedd trains and samples, measured side by side with PyTorch.

One run prints the whole story, each line a ratio of two timings taken side by side (the speed
lines alternate minisedd and PyTorch runs and keep the best of each, so that a machine that is
busy with other programs slows both alike):

1. check: one float64 step of minisedd and of the same step written in PyTorch (autograd) agree
   (loss and every gradient, relative error);
2. speed: minisedd float32 / torch float32 training steps per second, on the same prepared
   batches, with one thread each and with the libraries' default threads each
   (BLAS's own default for NumPy, torch's default torch.get_num_threads()); the ratio of the
   best times, and the median of the ratios of paired runs (seconds apart, so less moved by
   a machine whose speed drifts);
3. floor: the time of the step's matrix products alone / the whole step's time (what is left
   for everything else is 1 minus it);
4. load: the training time with one other CPU-bound process running (a busy loop the benchmark
   starts and stops itself) / the idle training time;
5. sampling: samples per second of minisedd.sample (Tweedie, 64 steps), float32 / float64.

Two networks: the toy one (ScoreMLP defaults, 4 tokens, the toy corpus, batch 256, both graphs)
and a surnames-sized one (14 positions, absorbing graph with 28 tokens, hidden width 512,
depth 3, batch 256, random training rows: only the timing matters).

The torch step is minisedd's step written in torch: the first layer as an embedding bag
(sum of one row per position) plus the noise features, SiLU MLP, log-softmax, the closed-form
posterior -> score map, denoising score entropy with the same targets, torch.optim.Adam and the
same weight average. PyTorch is never a dependency of minisedd: without it the torch lines are
skipped.

Run
    python benchmarks/bench_train.py            (a few minutes)
    python benchmarks/bench_train.py --quick    (seconds: fewer steps, for a smoke test)
"""
import argparse
import multiprocessing
import os
import time

import numpy as np

import minisedd as ms
from minisedd.model import sigma_features
from minisedd.score import SB_FLOOR
from minisedd.threads import blas_threads
from minisedd.heap import keep_heap
from minisedd.train import epoch_sampler, loss_and_grads, mask_at_least_one, move_average

BATCH = 256
CPUS = os.cpu_count() or 1
BUSY_LIMIT = 600.0      # seconds: the busy process stops by itself even if we never stop it


# -- the two networks -----------------------------------------------------------------------
def setup(size, kind, dtype, rng=0):
    """(model, noise, training rows) for size "toy" or "surnames"."""
    if size == "toy":
        graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
        model = ms.ScoreMLP(graph, 4, rng=rng, dtype=dtype)
        return model, noise, ms.TOY_SENTENCES
    graph, noise = ms.problem("absorbing", 27)                 # 27 letters + the mask: n = 28
    model = ms.ScoreMLP(graph, 14, hidden=512, depth=3, rng=rng, dtype=dtype)
    rows = np.random.default_rng(1).integers(0, 27, size=(4096, 14))
    return model, noise, rows


def make_batches(model, noise, data, steps, seed=0, t_min=1e-3):
    """The batches minisedd.train draws: (x0, x_t, sb, weight) per step, drawn before timing
    and shared by both implementations (so the timings cover the step, not the drawing)."""
    graph, rng = model.graph, np.random.default_rng(seed)
    next_rows = epoch_sampler(len(data), rng)
    batches = []
    for _ in range(steps):
        x0 = data[next_rows(BATCH)]
        t = t_min + (1.0 - t_min) * (rng.permutation(BATCH) + rng.random(BATCH)) / BATCH
        sb = noise.total(t)
        if graph.kind == "absorbing":
            x_t, p_any = mask_at_least_one(x0, sb, graph.mask_id, rng)
        else:
            x_t, p_any = graph.sample_transition(x0, sb, rng), 1.0
        batches.append((x0, x_t, sb, p_any * (1.0 - t_min) * noise.rate(t) / BATCH))
    return batches


# -- minisedd ---------------------------------------------------------------------------------
def numpy_run(model, batches):
    """Train on the prepared batches as minisedd.train does: loss and gradients, Adam, average,
    with freed memory kept in the process (keep_heap, as train does)."""
    opt = ms.Adam(model.params, lr=3e-3)
    average = {k: np.zeros_like(p) for k, p in model.params.items()}
    scratch = {k: np.empty_like(p) for k, p in model.params.items()}
    with keep_heap():
        for x0, x_t, sb, weight in batches:
            _, grads = loss_and_grads(model, x0, x_t, sb, weight)
            opt.step(grads)
            move_average(average, model.params, 1e-3, scratch)


def products_run(model, batches):
    """The matrix products of the same steps alone (forward x W, backward dout W^T and x^T dout
    of every layer after the embedding, and the noise features' small product)."""
    p, dt = model.params, model.dtype
    B, H = BATCH, model.hidden
    rng = np.random.default_rng(0)
    acts = [rng.random((B, H)).astype(dt) for _ in range(model.depth)]
    outs = [rng.random((B, p[f"W{k}"].shape[1])).astype(dt) for k in range(1, model.depth + 1)]
    feats = rng.random((B, 2)).astype(dt)
    W_feat = p["W0"][-2:]
    for _ in batches:
        feats @ W_feat
        feats.T @ acts[0]
        for k in range(1, model.depth + 1):
            W = p[f"W{k}"]
            acts[k - 1] @ W
            outs[k - 1] @ W.T
            acts[k - 1].T @ outs[k - 1]


# -- the same step in PyTorch -----------------------------------------------------------------
def torch_net(model, torch):
    """minisedd's ScoreMLP in torch, with its current weights: (module, dtype)."""
    dtype = {np.float64: torch.float64, np.float32: torch.float32}[np.dtype(model.dtype).type]
    L, n = model.length, model.graph.n
    p = {k: torch.tensor(v) for k, v in model.params.items()}

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Parameter(p["W0"][:L * n].clone())     # (L n, H)
            self.feat = torch.nn.Parameter(p["W0"][L * n:].clone())      # (2, H)
            self.b0 = torch.nn.Parameter(p["b0"].clone())
            layers = []
            for k in range(1, model.depth + 1):
                lin = torch.nn.Linear(*p[f"W{k}"].shape, dtype=dtype)
                with torch.no_grad():       # minisedd computes x W + b, torch x W^T + b
                    lin.weight.copy_(p[f"W{k}"].T)
                    lin.bias.copy_(p[f"b{k}"])
                layers += [torch.nn.SiLU(), lin]
            self.rest = torch.nn.Sequential(*layers)

        def forward(self, ids, feats):
            h = (torch.nn.functional.embedding_bag(ids, self.embed, mode="sum")
                 + feats @ self.feat + self.b0)
            return self.rest(h)

    return Net(), dtype


def torch_loss(net, dtype, graph, length, batch, torch):
    """The sigma-weighted DSE of one prepared batch, summed, in torch."""
    x0, x_t, sb, weight = batch
    n, n_clean = graph.n, graph.n_clean
    sb = np.maximum(sb, SB_FLOOR)
    B = x_t.shape[0]
    xt = torch.as_tensor(x_t)
    ids = xt + torch.arange(length) * n                             # row i n + x_i of the table
    feats = torch.as_tensor(sigma_features(sb), dtype=dtype)
    logits = net(ids, feats).reshape(B, length, n_clean)
    pi = torch.softmax(logits, dim=-1)                              # (B, L, n_clean)
    keep = torch.as_tensor(np.exp(-sb), dtype=dtype)[:, None, None]         # e^{-sb}
    jump = torch.as_tensor(-np.expm1(-sb), dtype=dtype)[:, None, None]      # 1 - e^{-sb}
    if graph.kind == "absorbing":                                   # pi P, closed forms
        p_tok = torch.cat([keep * pi, jump * pi.sum(-1, keepdim=True)], dim=-1)
    else:
        p_tok = keep * pi + jump / n * pi.sum(-1, keepdim=True)
    log_p = torch.log(p_tok)
    log_s = log_p - torch.gather(log_p, 2, xt[:, :, None])          # (B, L, n)
    P = torch.as_tensor(graph._transition(sb), dtype=dtype)         # (B, n, n)
    rows = torch.gather(P, 1, torch.as_tensor(x0)[:, :, None].expand(B, length, n))
    ratio = rows / torch.gather(rows, 2, xt[:, :, None])            # DSE targets
    w = torch.as_tensor(np.array(graph.Q_in), dtype=dtype)[xt]     # Q[y, x_i]
    se = torch.exp(log_s) - ratio * log_s + torch.special.xlogy(ratio, ratio) - ratio
    return (torch.as_tensor(weight, dtype=dtype) * (w * se).sum(dim=(1, 2))).sum()


def torch_run(model, batches, torch):
    net, dtype = torch_net(model, torch)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    average = [p.detach().clone() for p in net.parameters()]
    for batch in batches:
        opt.zero_grad()
        torch_loss(net, dtype, model.graph, model.length, batch, torch).backward()
        opt.step()
        with torch.no_grad():
            for a, p in zip(average, net.parameters()):
                a.add_(p - a, alpha=1e-3)


def check_against_torch(size, kind, torch):
    """Relative errors (loss, worst gradient) of one float64 step, minisedd vs torch."""
    model, noise, data = setup(size, kind, np.float64)
    batch = make_batches(model, noise, data, 1)[0]
    loss, grads = loss_and_grads(model, *batch)
    net, dtype = torch_net(model, torch)
    loss_t = torch_loss(net, dtype, model.graph, model.length, batch, torch)
    loss_t.backward()
    torch_grads = {"W0": torch.cat([net.embed.grad, net.feat.grad]).numpy(),
                   "b0": net.b0.grad.numpy()}
    linears = [m for m in net.rest if isinstance(m, torch.nn.Linear)]
    for k, lin in enumerate(linears, start=1):
        torch_grads[f"W{k}"] = lin.weight.grad.numpy().T
        torch_grads[f"b{k}"] = lin.bias.grad.numpy()
    grad_err = max(np.abs(torch_grads[k] - g).max() / max(1e-300, np.abs(g).max())
                   for k, g in grads.items())
    return abs(float(loss_t.detach()) - loss) / abs(loss), grad_err


# -- timing -----------------------------------------------------------------------------------
def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def paired_times(numpy_fn, torch_fn, threads, repeats, torch):
    """Times of numpy_fn() and torch_fn() with `threads` threads each, taken in turns (numpy,
    torch, numpy, torch, ...) so that a change in the machine's load hits both alike.

    Returns (best numpy time, best torch time, median over the pairs of torch time / numpy
    time). The two runs of a pair are seconds apart, so a slow minute slows both and leaves
    their ratio alone, while the best of each can come from different minutes.
    """
    best, ratios = [np.inf, np.inf], []
    for _ in range(repeats):
        t_np = timed(numpy_fn, threads, 1)
        t_t = timed(torch_fn, threads, 1, torch)
        best = [min(best[0], t_np), min(best[1], t_t)]
        ratios.append(t_t / t_np)
    return best[0], best[1], float(np.median(ratios))


def timed(fn, threads, repeats, torch=None):
    """Best time of fn() with `threads` BLAS threads for NumPy and torch.set_num_threads."""
    if torch is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        with blas_threads(threads):
            return best_time(fn, repeats)
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class OneBusyProcess:
    """`with OneBusyProcess():` runs one CPU-bound process (a busy loop) for the block."""

    def __enter__(self):
        self.proc = multiprocessing.get_context("spawn").Process(target=_busy, args=(BUSY_LIMIT,),
                                                                 daemon=True)
        self.proc.start()
        time.sleep(0.3)                            # let it start spinning
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.join()


def main(quick=False, repeats=4):
    try:
        import torch
    except ImportError:
        torch = None
    toy_steps, big_steps = (30, 3) if quick else (200, 40)
    print(f"minisedd {ms.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else '(not installed: torch lines skipped)'}; "
          f"{CPUS} CPUs, load average {os.getloadavg()[0]:.2f} at the start; best of {repeats}; "
          f"batch {BATCH}; toy {toy_steps} steps, surnames-sized {big_steps} steps")
    cases = [("toy", "absorbing", toy_steps), ("toy", "uniform", toy_steps),
             ("surnames", "absorbing", big_steps)]
    out = {}
    if torch is not None:
        print("\ncheck, one float64 step (relative error of the loss, of the worst gradient):")
        for size, kind, _ in cases:
            loss_err, grad_err = check_against_torch(size, kind, torch)
            out[f"check {size} {kind}"] = (loss_err, grad_err)
            print(f"  {size:8s} {kind:9s} loss {loss_err:.1e}   gradients {grad_err:.1e}")

    print("\nspeed, training steps per second, float32 (ratio minisedd / torch: of the best "
          "times, and the median of the paired runs' ratios):")
    runs = {}
    for size, kind, steps in cases:
        model, noise, data = setup(size, kind, np.float32)
        batches = make_batches(model, noise, data, steps)
        def fresh(size=size, kind=kind):
            return setup(size, kind, np.float32)[0]

        def numpy_fn(fresh=fresh, batches=batches):
            numpy_run(fresh(), batches)

        def torch_fn(fresh=fresh, batches=batches):
            torch_run(fresh(), batches, torch)

        numpy_fn()                                                    # warm-up
        if torch is None:
            torch_fn = None
        if torch_fn:
            torch_fn()
        runs[(size, kind)] = (numpy_fn, torch_fn, steps, model, batches)
        for threads, label in ((1, "1 thread each"), (CPUS, "default threads each")):
            if torch_fn:
                t_np, t_t, paired = paired_times(numpy_fn, torch_fn, threads, repeats, torch)
            else:
                t_np = timed(numpy_fn, threads, repeats)
            line = f"  {size:8s} {kind:9s} {label:21s} minisedd {steps / t_np:7.1f}"
            out[f"speed {size} {kind} {threads}"] = steps / t_np
            if torch_fn:
                out[f"ratio {size} {kind} {threads}"] = t_t / t_np
                out[f"paired ratio {size} {kind} {threads}"] = paired
                line += (f"   torch {steps / t_t:7.1f}   ratio {t_t / t_np:5.2f}   "
                         f"paired {paired:5.2f}")
            print(line)

    print("\nfloor, float32, 1 thread (time of the step's matrix products alone / step time):")
    for (size, kind), (numpy_fn, _, steps, model, batches) in runs.items():
        t_step = timed(numpy_fn, 1, repeats)
        t_mm = timed(lambda m=model, b=batches: products_run(m, b), 1, repeats)
        out[f"floor {size} {kind}"] = t_mm / t_step
        print(f"  {size:8s} {kind:9s} {t_mm / t_step:5.2f}   ({1e3 * t_step / steps:.2f} ms per step)")

    print("\nload, float32 (training time with one other CPU-bound process / idle time):")
    for size, kind in (("toy", "absorbing"), ("surnames", "absorbing")):
        numpy_fn, torch_fn, steps, _, _ = runs[(size, kind)]
        entries = [("minisedd, 1 thread", numpy_fn, 1, None),
                   (f"minisedd, BLAS default ({CPUS})", numpy_fn, CPUS, None)]
        if torch_fn:
            entries += [("torch, 1 thread", torch_fn, 1, torch),
                        (f"torch, default ({torch.get_num_threads()})", torch_fn,
                         torch.get_num_threads(), torch)]
        for label, fn, threads, lib in entries:
            idle = timed(fn, threads, repeats, lib)
            with OneBusyProcess():
                busy = timed(fn, threads, repeats, lib)
            out[f"load {size} {label}"] = busy / idle
            print(f"  {size:8s} {label:27s} {busy / idle:5.2f}   "
                  f"({steps / idle:6.1f} -> {steps / busy:6.1f} steps/s)")

    print("\nsampling, Tweedie, 64 steps, 1 thread (samples per second, float32 / float64):")
    for size, kind, num in (("toy", "absorbing", 4000), ("toy", "uniform", 4000),
                            ("surnames", "absorbing", 256 if not quick else 32)):
        rates = {}
        for dtype in (np.float64, np.float32):
            model, noise, _ = setup(size, kind, dtype)
            rates[dtype] = num / timed(lambda m=model, z=noise, k=num: ms.sample(m, z, k, rng=0),
                                       1, repeats)
        out[f"sample {size} {kind}"] = rates
        print(f"  {size:8s} {kind:9s} float64 {rates[np.float64]:8.0f}   float32 "
              f"{rates[np.float32]:8.0f}   ratio {rates[np.float32] / rates[np.float64]:5.2f}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="minisedd's training and sampling speed, side by "
                                                 "side with PyTorch if it is installed.")
    parser.add_argument("--quick", action="store_true", help="few steps: a smoke test")
    parser.add_argument("--repeats", type=int, default=4, help="timings per number (best kept)")
    args = parser.parse_args()
    main(quick=args.quick, repeats=args.repeats)
