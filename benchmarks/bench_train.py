"""Benchmark: how fast minisedd trains and samples, and how that compares with PyTorch.

What it measures (toy corpus; ScoreMLP defaults, 38 or 34 -> 128 -> 128 -> 32, SiLU)
    * training steps per second of `minisedd.train` (batch 256, both graphs): each step draws a
      batch, noises it, runs the forward pass, the DSE loss, the hand-written backward pass, an
      Adam step and the weight average;
    * sampling throughput: samples per second of `minisedd.sample` (Tweedie, 64 steps, 4000
      samples at once);
    * where PyTorch can be imported: the same network (same sizes, SiLU, the same
      posterior -> score map and DSE loss, written in torch) trained with torch autograd and
      torch.optim.Adam on the same batches, float64 like minisedd, and the ratio
      minisedd / torch of steps per second. Before timing, one step of each is compared (loss
      and every gradient) so that the two really compute the same thing. PyTorch is never a
      dependency of minisedd: without it this part says so and is skipped.

Run
    python benchmarks/bench_train.py              (about a minute; leave OPENBLAS_NUM_THREADS unset
                                                   and the machine otherwise idle for real numbers)
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_train.py --torch-threads 1    (one core each)
    python benchmarks/bench_train.py --help
Each timing is the best of --repeats runs. On a busy machine, multi-threaded BLAS can slow
down many times over (threads wait for each other while other processes hold the cores): the
printed load average says how busy the machine was; prefer the one-core run there.
"""
import argparse
import os
import time

import numpy as np

import minisedd as ms
from minisedd.score import SB_FLOOR
from minisedd.train import epoch_sampler, mask_at_least_one

KINDS = ("absorbing", "uniform")
BATCH = 256


def best_time(fn, repeats):
    """The shortest wall-clock time of `repeats` calls of fn()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# -- minisedd -------------------------------------------------------------------------------
def bench_minisedd(kind, steps, repeats, num_samples, sample_steps):
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    model = ms.ScoreMLP(graph, length=4, rng=0)
    ms.train(model, ms.TOY_SENTENCES, noise, 20, rng=0, log_every=0)   # warm-up
    t_train = best_time(lambda: ms.train(model, ms.TOY_SENTENCES, noise, steps, rng=0,
                                         log_every=0), repeats)
    rng = np.random.default_rng(0)
    t_sample = best_time(lambda: ms.sample(model, noise, num_samples, steps=sample_steps, rng=rng),
                         repeats)
    return steps / t_train, num_samples / t_sample


# -- the same step in PyTorch ---------------------------------------------------------------
def make_batches(graph, noise, steps, rng=0, t_min=1e-3):
    """The batches minisedd.train draws: (x0, x_t, sb, sigma(t) * P(any mask) / B) per step.

    Shared by both implementations and drawn before timing, so the comparison covers the
    kernels, the network, the loss, the backward pass and the optimizer.
    """
    rng = np.random.default_rng(rng)
    next_rows = epoch_sampler(len(ms.TOY_SENTENCES), rng)
    batches = []
    for _ in range(steps):
        x0 = ms.TOY_SENTENCES[next_rows(BATCH)]
        t = t_min + (1.0 - t_min) * (rng.permutation(BATCH) + rng.random(BATCH)) / BATCH
        sb = noise.total(t)
        if graph.kind == "absorbing":
            x_t, p_any = mask_at_least_one(x0, sb, graph.mask_id, rng)
        else:
            x_t, p_any = graph.sample_transition(x0, sb, rng), 1.0
        batches.append((x0, x_t, sb, p_any * noise.rate(t) / BATCH))
    return batches


def numpy_step(model, opt, batch):
    """One training step of minisedd on a prepared batch (as in minisedd.train)."""
    x0, x_t, sb, weight = batch
    log_s, cache = model.forward(x_t, sb)
    loss, dlog_s = ms.dse_loss(model.graph, log_s, x_t, x0, sb)
    grads = model.backward(weight[:, None, None] * dlog_s, cache)
    opt.step(grads)
    return float(np.sum(weight * loss)), grads


def torch_model(model, torch, dtype):
    """A torch.nn.Sequential with the sizes, activation and current weights of a ScoreMLP."""
    layers = []
    sizes = model.net.sizes
    for k, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = torch.nn.Linear(d_in, d_out, dtype=dtype)
        with torch.no_grad():                       # minisedd computes x W + b, torch x W^T + b
            linear.weight.copy_(torch.as_tensor(model.params[f"W{k}"].T))
            linear.bias.copy_(torch.as_tensor(model.params[f"b{k}"]))
        layers.append(linear)
        if k < len(sizes) - 2:
            layers.append(torch.nn.SiLU())
    return torch.nn.Sequential(*layers)


def torch_loss(net, graph, length, batch, torch, dtype):
    """The minisedd step in torch: one-hot + sigma features -> MLP -> log-softmax -> pi ->
    s[i, y] = (pi P)_y / (pi P)_{x_i} -> sigma-weighted DSE, summed over the batch."""
    x0, x_t, sb, weight = batch
    n, n_clean = graph.n, graph.n_clean
    sb = np.maximum(sb, SB_FLOOR)                                      # as ScoreMLP.forward
    P = graph._transition(sb)                                          # (B, n, n)
    xt = torch.as_tensor(x_t)
    x0t = torch.as_tensor(x0)
    B = xt.shape[0]
    onehot = torch.nn.functional.one_hot(xt, n).to(dtype).reshape(B, length * n)
    feats = torch.as_tensor(ms.sigma_features(sb), dtype=dtype)
    logits = net(torch.cat([onehot, feats], dim=1)).reshape(B, length, n_clean)
    pi = torch.exp(torch.log_softmax(logits, dim=-1))                  # (B, L, n_clean)
    Pt = torch.as_tensor(np.maximum(P, 0.0), dtype=dtype)              # (B, n, n)
    p_tok = torch.einsum("blv,bvn->bln", pi, Pt[:, :n_clean, :])      # (B, L, n)
    log_p = torch.log(p_tok)
    log_s = log_p - torch.gather(log_p, 2, xt[:, :, None])            # (B, L, n)
    rows = torch.gather(Pt, 1, x0t[:, :, None].expand(B, length, n))  # P[x0_i, .]
    ratio = rows / torch.gather(rows, 2, xt[:, :, None])              # DSE targets
    w = torch.as_tensor(np.array(graph.Q_in), dtype=dtype)[xt]       # Q[y, x_i]
    se = torch.exp(log_s) - ratio * log_s + torch.special.xlogy(ratio, ratio) - ratio
    per_seq = (w * se).sum(dim=(1, 2))                                 # (B,)
    return (torch.as_tensor(weight, dtype=dtype) * per_seq).sum()


def bench_torch(kind, steps, repeats, torch, dtype):
    """(steps/s of torch, steps/s of minisedd on the same prepared batches, check errors)."""
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    batches = make_batches(graph, noise, steps)

    # correctness: one step from the same weights; loss and every gradient must agree
    model = ms.ScoreMLP(graph, length=4, rng=0)
    net = torch_model(model, torch, dtype)
    loss_np, grads_np = numpy_step(model, ms.Adam(model.params, lr=3e-3), batches[0])
    loss_t = torch_loss(net, graph, 4, batches[0], torch, dtype)
    loss_t.backward()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    grad_err = max(max(float(np.abs(lin.weight.grad.numpy().T - grads_np[f"W{k}"]).max()),
                       float(np.abs(lin.bias.grad.numpy() - grads_np[f"b{k}"]).max()))
                   for k, lin in enumerate(linears))
    grad_scale = max(float(np.abs(g).max()) for g in grads_np.values())
    loss_err = abs(float(loss_t.detach()) - loss_np) / abs(loss_np)

    def run_torch():
        net = torch_model(ms.ScoreMLP(graph, length=4, rng=0), torch, dtype)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        average = [p.detach().clone() for p in net.parameters()]       # weight average, as in train
        for batch in batches:
            opt.zero_grad()
            loss = torch_loss(net, graph, 4, batch, torch, dtype)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for a, p in zip(average, net.parameters()):
                    a.add_(p - a, alpha=1e-3)

    def run_numpy():
        m = ms.ScoreMLP(graph, length=4, rng=0)
        opt = ms.Adam(m.params, lr=3e-3)
        average = {k: p.copy() for k, p in m.params.items()}
        for batch in batches:
            numpy_step(m, opt, batch)
            for k, p in m.params.items():
                average[k] += 1e-3 * (p - average[k])

    run_torch()                                                        # warm-up
    t_torch = best_time(run_torch, repeats)
    t_numpy = best_time(run_numpy, repeats)
    return steps / t_torch, steps / t_numpy, loss_err, grad_err / grad_scale


def main(steps=500, repeats=3, num_samples=4000, sample_steps=64, torch_threads=None):
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"minisedd {ms.__version__}, numpy {np.__version__}, OPENBLAS_NUM_THREADS={threads}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"best of {repeats}; training: {steps} steps of batch {BATCH}; sampling: {num_samples} "
          f"samples, {sample_steps} Tweedie steps")
    out = {}
    for kind in KINDS:
        rate, throughput = bench_minisedd(kind, steps, repeats, num_samples, sample_steps)
        out[kind] = {"train_steps_per_s": rate, "samples_per_s": throughput}
        print(f"  {kind:9s} minisedd.train: {rate:7.1f} steps/s   minisedd.sample: "
              f"{throughput:8.0f} samples/s")
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: the comparison with torch autograd is skipped "
              "(minisedd never needs it).")
        return out
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; the same network, "
          "loss and batches (prepared beforehand, shared), Adam, weight average:")
    for kind in KINDS:
        for dtype in (torch.float64, torch.float32):
            t_rate, n_rate, loss_err, grad_err = bench_torch(kind, steps, repeats, torch, dtype)
            name = str(dtype).replace("torch.", "")
            out[kind][f"torch_{name}"] = {"torch_steps_per_s": t_rate, "numpy_steps_per_s": n_rate,
                                          "ratio": n_rate / t_rate, "loss_rel_err": loss_err,
                                          "grad_rel_err": grad_err}
            print(f"  {kind:9s} torch {name}: {t_rate:7.1f} steps/s   minisedd (same batches): "
                  f"{n_rate:7.1f} steps/s   ratio minisedd/torch {n_rate / t_rate:5.2f}   "
                  f"(check: loss {loss_err:.0e}, gradients {grad_err:.0e} relative)")
    print("The float64 rows compare like with like (minisedd computes in float64); float32 is "
          "what torch would use by default.")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Training and sampling speed of minisedd "
                                                 "(and PyTorch, if installed).")
    parser.add_argument("--steps", type=int, default=500, help="training steps per timing")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings per number (the best is kept)")
    parser.add_argument("--num-samples", type=int, default=4000, help="samples drawn at once")
    parser.add_argument("--sample-steps", type=int, default=64, help="Tweedie steps per sample")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own choice); for a one-core "
                             "comparison use 1 together with OPENBLAS_NUM_THREADS=1")
    args = parser.parse_args()
    main(steps=args.steps, repeats=args.repeats, num_samples=args.num_samples,
         sample_steps=args.sample_steps, torch_threads=args.torch_threads)
