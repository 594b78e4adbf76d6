"""Lesson 02: the concrete score p_t(y) / p_t(x), and the reverse process it drives.

What it teaches
    * The concrete score of one token: s_x(y) = p_t(y) / p_t(x), where p_t = p0 P_t is the
      noised distribution (a row vector) and P_t = expm(sigma_bar(t) Q). How it behaves on the
      uniform graph (every ratio -> 1) and on the absorbing graph (from [MASK]:
      s(y) = p0(y) / expm1(sigma_bar), which -> infinity as t -> 0).
    * `minisedd.ExactScore` computes exactly these ratios (checked against the direct formula).
    * Knowing the ratios is enough to run time backward: the reverse process jumps x -> y at
      rate R_t[x, y] = sigma(t) Q[y, x] s_x(y). (a) Evolving the distribution itself with R_t,
      from the limit at t = 1 down to t ~ 0, recovers p0. (b) Sampling with
      `minisedd.sample(ExactScore, ...)` draws tokens whose frequencies match p0.

Run
    python lessons/02_concrete_score.py         (a few seconds; writes figures/02_concrete_score.png)
    python lessons/02_concrete_score.py --help

What to expect
    ExactScore and the direct formula agree to ~1e-15 (relative). The evolved distribution stays
    within a few 1e-4 (TV) of the exact p_t all the way and ends within a few 1e-4 of p0. Samples drawn with
    the exact score have TV to p0 at the level of sampling noise (about 0.004 for 20000 samples)
    with the Tweedie sampler; the Euler sampler on the uniform graph adds a visible
    time-discretization error at 64 steps.
"""
# %%
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minisedd import (Absorbing, ExactScore, Geometric, LogLinear, Uniform, sample,  # noqa: E402
                      tv_distance)

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. The concrete score of one token
# Take a distribution p0 over 4 tokens and noise it: p_t = p0 P_t (a row vector times the
# kernel of lesson 01). The *concrete score* at a token x is the vector of ratios
#     s_x(y) = p_t(y) / p_t(x),        s_x(x) = 1.
# It plays the role that grad log p plays for continuous diffusion: it says, from where we
# are (x), how much more likely each neighbour y is. The normalizing constant of p_t cancels
# in the ratio, which is why a network can learn it without knowing that constant.
#
# On the absorbing graph the 4 real tokens get a fifth token, [MASK] (id 4), and p0(MASK) = 0.
# Then p_t(y) = p0(y) e^{-sb} for a real y and p_t(MASK) = 1 - e^{-sb}, so from [MASK]
#     s_MASK(y) = p0(y) / expm1(sb)       (MATH.md section 3)
# which is huge at small noise (a masked token is surprising then) and tiny at large noise.

# %%
P0 = np.array([0.05, 0.15, 0.30, 0.50])                     # p0 over the 4 real tokens
SETUPS = {"uniform": (Uniform(4), Geometric(1e-4, 20.0)),
          "absorbing": (Absorbing(5), LogLinear(1e-3))}


def direct_ratios(graph, sb):
    """s[x, y] = p_t(y) / p_t(x) with p_t = p0 P_t, straight from the definition; (n, n)."""
    p0 = np.zeros(graph.n)
    p0[:len(P0)] = P0                                       # p0(MASK) = 0 on the absorbing graph
    p_t = p0 @ graph.transition(sb)                         # (n,) noised distribution
    return p_t[None, :] / p_t[:, None]                      # (n, n)


def exact_ratios(score, sb):
    """The same matrix from ExactScore: row x is exp(log_score) of the one-token sequence (x)."""
    x_t = np.arange(score.graph.n)[:, None]                 # (n, 1): every token, length 1
    return np.exp(score.log_score(x_t, sb)[:, 0, :])        # (n, n)


def show_ratios(show=print):
    show("== 1. Concrete scores s[x, y] = p_t(y) / p_t(x) of p0 = "
         f"{P0.tolist()} ==")
    for kind, (graph, noise) in SETUPS.items():
        for t in (0.5, 0.9):
            sb = float(noise.total(t))
            show(f"{graph!r} with {noise!r}, t = {t} (sigma_bar = {sb:.4f}):\n"
                 f"{direct_ratios(graph, sb)}")
    show("Look at: on the uniform graph every ratio moves toward 1 as t grows (p_t -> uniform). "
         "On the absorbing\ngraph the last row (from [MASK]) is p0(y) / expm1(sigma_bar), and the "
         "ratios among real tokens\nstay p0(y) / p0(x) at every t.")


# %% [markdown]
# ## 2. ExactScore computes the same ratios
# `ExactScore(graph, sequences, probs)` is the exact score of a distribution over a list of
# sequences. A one-token distribution is the list of the 4 one-token sequences
# arange(4)[:, None] with probabilities p0. We evaluate it at every token x and compare with
# the direct formula at several noise levels (relative difference, since ratios span many
# orders of magnitude).

# %%
def compare_exact(show=print):
    show("\n== 2. ExactScore against the direct formula ==")
    out = {}
    sbs = [1e-3, 0.1, 1.0, 5.0]
    for kind, (graph, noise) in SETUPS.items():
        score = ExactScore(graph, np.arange(len(P0))[:, None], P0)
        rel = max(float(np.abs(exact_ratios(score, sb) / direct_ratios(graph, sb) - 1.0).max())
                  for sb in sbs)
        out[kind] = rel
        show(f"{graph!r:24s} max relative difference over sigma_bar in {sbs}: {rel:.1e}")
    return out


# %% [markdown]
# ## 3. Running time backward: (a) evolving the distribution
# A Markov chain run backward in time is again a Markov chain. If the forward chain jumps
# y -> x at rate sigma(t) Q[y, x], the time-reversed chain jumps x -> y at rate
#     R_t[x, y] = sigma(t) Q[y, x] p_t(y) / p_t(x) = sigma(t) Q[y, x] s_x(y)     (y != x)
# (flows balance: p_t(x) R_t[x, y] = p_t(y) sigma(t) Q[y, x]), with R_t[x, x] making rows sum
# to 0. So the concrete score is all the reverse process needs.
#
# Going from t to t - h, a distribution q over tokens changes as q <- q + h q R_t (one Euler
# step of the reverse chain's master equation). We start from the graph's limit (uniform /
# all [MASK]) at t = 1, take `steps` equal steps down to t_end, and compare q with the exact
# forward marginal p_t along the way. Each step is a proper stochastic update only if
# h * (rate of leaving a token) <= 1; we print the largest value of that product.
#
# On the absorbing graph the rates from [MASK] grow like 1/t as t -> 0 (the ratio
# p0(y) / expm1(sb) blows up), so we stop at t_end = 1e-4. With the LogLinear schedule the
# total rate of leaving [MASK] is exactly 1/t, so each Euler step multiplies the masked mass
# by 1 - h/t = t_{k+1}/t_k: it falls from 1 at t = 1 to t_end = 1e-4, in step with the forward
# process (which has (1 - eps) t masked at time t; we started with all of the mass masked
# instead of 1 - eps of it). Dropping [MASK] and renormalizing (what a sampler's final
# denoising step does) gives the recovered p0.

# %%
def evolve_backward(graph, noise, score, steps, t_end):
    """Euler steps of dq/d(-t) = q R_t from q = limit at t = 1 to t_end.

    Returns (ts (steps + 1,), qs (steps + 1, n), worst h * exit rate).
    """
    ts = np.linspace(1.0, t_end, steps + 1)
    q = graph.limit.copy()                                  # (n,) start from the limit
    qs, worst = [q], 0.0
    for k in range(steps):
        t, h = ts[k], ts[k] - ts[k + 1]
        s = exact_ratios(score, float(noise.total(t)))      # (n, n): s[x, y] = s_x(y)
        R = float(noise.rate(t)) * graph.Q_in * s           # R[x, y] = sigma(t) Q[y, x] s_x(y)
        R[np.diag_indices(graph.n)] = -R.sum(axis=1)        # rows sum to 0
        worst = max(worst, float(h * -R.diagonal().min()))
        q = q + h * (q @ R)                                 # one step backward in time
        qs.append(q)
    return ts, np.array(qs), worst


def run_evolution(steps, t_end, show=print):
    show(f"\n== 3. (a) Evolving the distribution backward ({steps} Euler steps, t = 1 -> {t_end}) ==")
    out, curves = {}, {}
    for kind, (graph, noise) in SETUPS.items():
        score = ExactScore(graph, np.arange(len(P0))[:, None], P0)
        ts, qs, worst = evolve_backward(graph, noise, score, steps, t_end)
        p0 = np.zeros(graph.n)
        p0[:len(P0)] = P0
        p_ts = p0 @ graph.transition(noise.total(ts))       # (steps + 1, n): exact marginals
        tv_path = 0.5 * np.abs(qs - p_ts).sum(axis=1)       # TV(q_t, p_t) at every step
        q_end = qs[-1]
        recovered = q_end[:len(P0)] / q_end[:len(P0)].sum() # drop [MASK] (if any), renormalize
        out[kind] = {"tv_start": float(tv_path[0]), "tv_path_max": float(tv_path.max()),
                     "tv_end_to_p_t": float(tv_path[-1]), "tv_to_p0": tv_distance(recovered, P0),
                     "masked_left": float(q_end[len(P0):].sum()), "min_q": float(qs.min()),
                     "worst_h_rate": worst, "recovered": recovered}
        curves[kind] = (ts, qs, p_ts)
        r = out[kind]
        show(f"{graph!r}: TV(q, p_t) at t = 1: {r['tv_start']:.1e}, largest on the way: "
             f"{r['tv_path_max']:.1e}, at t_end: {r['tv_end_to_p_t']:.1e}")
        show(f"    recovered {recovered}  vs p0 {P0}:  TV = {r['tv_to_p0']:.1e}"
             + (f"   (mass still masked at t_end: {r['masked_left']:.2e})"
                if kind == "absorbing" else ""))
        show(f"    smallest probability on the way {r['min_q']:.2e} (>= 0), largest h * exit rate "
             f"{worst:.2f} (<= 1)")
    show("Expect: TV to p0 of a few 1e-4 or below. On the uniform graph what is left is mostly "
         "Euler's\nstep error, which shrinks in proportion to h (double the steps, about halve the "
         "TV). The absorbing\nrun starts from all-[MASK], 1e-3 away from the true p_1, and still "
         "ends on p_t: a masked token\ncarries no information, so starting fully masked loses "
         "nothing.")
    return out, curves


# %% [markdown]
# ## 4. Running time backward: (b) sampling
# The same reverse chain, simulated token by token: `minisedd.sample` starts `num_samples`
# tokens at the limit and moves each one with the reverse rates computed from a score object.
# The Tweedie sampler (MATH.md section 5) takes each step with the exact reverse transition
# when the score is exact, so for one token its only error is sampling noise: the expected
# TV between the frequencies of N draws and p0 is about sum_y sqrt(p0(y) (1 - p0(y)) / (2 pi N)).
# The Euler sampler uses the rates as if constant over a step and so adds a
# time-discretization error, visible on the uniform graph. (On the absorbing graph with the
# LogLinear schedule both take identical steps: sigma(t) dt / expm1(sb(t)) = dt / t =
# expm1(delta) / expm1(sb(t)), so they draw the same tokens from the same seed.)

# %%
def run_sampling(num_samples, sample_steps, seed, show=print):
    expected = float(np.sum(np.sqrt(P0 * (1 - P0) / (2 * np.pi * num_samples))))
    show(f"\n== 4. (b) Sampling with the exact score ({num_samples} tokens, {sample_steps} steps) ==")
    show(f"sampling noise alone: expected TV about {expected:.4f}")
    out = {"expected_tv": expected}
    for kind, (graph, noise) in SETUPS.items():
        score = ExactScore(graph, np.arange(len(P0))[:, None], P0)
        for method in ("tweedie", "euler"):
            x = sample(score, noise, num_samples, steps=sample_steps, method=method,
                       rng=np.random.default_rng(seed))       # (N, 1) clean tokens
            freq = np.bincount(x[:, 0], minlength=len(P0)) / num_samples
            out[f"{kind}_{method}"] = {"freq": freq, "tv": tv_distance(freq, P0)}
            show(f"{graph!r:24s} {method:8s} frequencies {freq}  TV to p0 = "
                 f"{tv_distance(freq, P0):.4f}")
    return out


# %% [markdown]
# ## 5. The figure
# Top: the ratios against t, lines from the direct formula and dots from ExactScore. Middle:
# the distribution evolved backward (solid) on top of the exact forward marginals (dashed).
# Right: p0 and what the reverse process recovered.

# %%
def plot(curves, evolved, sampled, path):
    colors = plt.cm.tab10(np.arange(10))
    fig = plt.figure(figsize=(14, 8))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.1])
    t_line = np.linspace(0.0, 1.0, 301)
    t_dots = np.linspace(0.1, 1.0, 10)
    names = [f"token {y} (p0 = {P0[y]:.2f})" for y in range(len(P0))]
    for col, (kind, (graph, noise)) in enumerate(SETUPS.items()):
        score = ExactScore(graph, np.arange(len(P0))[:, None], P0)
        x = 3 if kind == "uniform" else graph.mask          # the token we stand on
        ax = fig.add_subplot(grid[0, col])
        p0 = np.zeros(graph.n)
        p0[:len(P0)] = P0
        sb_line = np.maximum(noise.total(t_line), 1e-12)     # sigma_bar > 0: p_t(MASK) > 0
        p_line = p0 @ graph.transition(sb_line)             # (301, n): p_t on the line's grid
        for y in range(len(P0)):
            if y == x:
                continue
            line = p_line[:, y] / p_line[:, x]              # the direct formula
            dots = [exact_ratios(score, float(noise.total(t)))[x, y] for t in t_dots]
            ax.plot(t_line, line, color=colors[y], label=f"y = {names[y]}")
            ax.plot(t_dots, dots, "o", color=colors[y], ms=4)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        label = "token 3" if kind == "uniform" else "[MASK]"
        ax.set_title(f"{graph!r}, {noise!r}\nratios s_x(y) = p_t(y)/p_t(x) from x = {label}"
                     "\n(lines: formula, dots: ExactScore)", fontsize=9)
        ax.set_xlabel("t")
        ax.set_ylabel("ratio (log scale)")
        ax.legend(fontsize=7)
        if kind == "absorbing":
            ax.set_ylim(1e-5, 1e4)

        ax = fig.add_subplot(grid[1, col])
        ts, qs, p_ts = curves[kind]
        for y in range(graph.n):
            name = names[y] if y < len(P0) else "[MASK]"
            color = colors[y] if y < len(P0) else "0.3"
            ax.plot(ts, qs[:, y], color=color, lw=2, label=name)
            ax.plot(ts, p_ts[:, y], "--", color="k", lw=0.8)
        ax.set_xlim(1, 0)                                   # time runs backward, left to right
        ax.set_ylim(0, 1)
        ax.set_xlabel("t (running backward)")
        ax.set_ylabel("probability")
        ax.set_title(f"{graph!r}: q_t evolved backward from the limit\n(dashed: exact forward "
                     f"p_t); TV to p0 at the end {evolved[kind]['tv_to_p0']:.1e}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left" if kind == "uniform" else "center left")

    ax = fig.add_subplot(grid[:, 2])
    bars = [("p0", P0, "k")]
    for kind in SETUPS:
        bars.append((f"{kind}: evolved (TV {evolved[kind]['tv_to_p0']:.0e})",
                     evolved[kind]["recovered"], None))
        tw = sampled[f"{kind}_tweedie"]
        bars.append((f"{kind}: Tweedie samples (TV {tw['tv']:.3f})", tw["freq"], None))
    width = 0.8 / len(bars)
    for k, (label, values, color) in enumerate(bars):
        ax.bar(np.arange(len(P0)) + (k - (len(bars) - 1) / 2) * width, values, width,
               label=label, color=color if color else colors[5 + k])
    ax.set_xticks(np.arange(len(P0)))
    ax.set_xticklabels([f"token {y}" for y in range(len(P0))])
    ax.set_ylabel("probability")
    ax.set_title("p0 and what the reverse process recovered\n"
                 f"(expected sampling TV ~{sampled['expected_tv']:.3f})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.07, top=0.9, wspace=0.25, hspace=0.45)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# %%
def main(evolve_steps=2000, t_end=1e-4, num_samples=20000, sample_steps=64, seed=0,
         fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    evolve_steps: Euler steps of the distribution from t = 1 to t_end; num_samples, sample_steps:
    tokens drawn with minisedd.sample and its steps; seed: sampler seed; fig_dir: where
    02_concrete_score.png goes; show: the print function.
    """
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    show_ratios(show)
    out = {"ratio_rel_diff": compare_exact(show)}
    out["evolve"], curves = run_evolution(evolve_steps, t_end, show)
    out["sample"] = run_sampling(num_samples, sample_steps, seed, show)
    path = fig_dir / "02_concrete_score.png"
    plot(curves, out["evolve"], out["sample"], path)
    out["figure"] = str(path)
    show(f"\nFigure: {path}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 02: the concrete score and the "
                                                 "reverse process.")
    parser.add_argument("--evolve-steps", type=int, default=2000,
                        help="Euler steps evolving the distribution from t = 1 to t_end")
    parser.add_argument("--t-end", type=float, default=1e-4,
                        help="where the backward evolution stops (the absorbing rates blow up at 0)")
    parser.add_argument("--num-samples", type=int, default=20000,
                        help="tokens drawn with minisedd.sample")
    parser.add_argument("--sample-steps", type=int, default=64, help="sampler steps")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for 02_concrete_score.png")
    args = parser.parse_args()
    main(evolve_steps=args.evolve_steps, t_end=args.t_end, num_samples=args.num_samples,
         sample_steps=args.sample_steps, seed=args.seed, fig_dir=args.fig_dir)
