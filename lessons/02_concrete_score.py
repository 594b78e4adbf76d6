# %% [markdown]
# # Lesson 02: the concrete score, and the reverse process it drives
#
# Lesson 01 noised data forward in time. To generate data we must run time backward, and this
# lesson shows that one quantity is enough for that: the **concrete score**, the ratios
# p_t(y) / p_t(x) of the noised distribution. We derive
#
# 1. the concrete score of one token, and of a sequence; how it behaves on the uniform graph
#    (every ratio -> 1) and on the absorbing graph (from [MASK]: p0(y) / expm1(sigma_bar));
# 2. that `ms.ExactScore` computes exactly these ratios;
# 3. the reverse-time rates, from the time reversal of a Markov chain, and with them we evolve
#    a distribution backward from the limit at t = 1 to t ~ 0: it recovers p0;
# 4. the Tweedie step (the exact reverse transition of one token), and sample tokens with
#    `ms.sample(ExactScore, ...)`: their frequencies match p0 up to sampling noise;
# 5. a figure of all of it.
#
# What to expect: ExactScore and the direct formula agree to ~1e-15 (relative). On the
# uniform graph the evolved distribution stays within 2e-4 (TV) of the exact p_t all the way;
# on the absorbing graph it starts 1e-3 away (all [MASK], where the forward process has
# 1 - eps of the mass masked) and the gap shrinks as it runs. Both end within a few 1e-4 of
# p0. 20000 tokens drawn with the exact score and the Tweedie sampler have TV to
# p0 at the level of sampling noise (about 0.004); the Euler sampler on the uniform graph adds
# a visible time-discretization error at 64 steps.
#
# Run it as a notebook (jupytext), or as a script: `python lessons/02_concrete_score.py`
# (about 10 s on a 2-core AMD EPYC server, one lesson at a time; writes figures/02_concrete_score.png);
# `--help` lists the options; `MINISEDD_QUICK=1` (or `--quick`) selects small settings.

# %%
import matplotlib
import numpy as np

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table

opt = options("Lesson 02: the concrete score and the reverse process",
              full=dict(evolve_steps=2000, t_end=1e-4, num_samples=20000, sample_steps=64,
                        seed=0),
              quick=dict(evolve_steps=500, num_samples=3000, sample_steps=16),
              help=dict(evolve_steps="Euler steps evolving the distribution from t = 1 to t_end",
                        t_end="where the backward evolution stops (the absorbing rates blow up "
                              "at t = 0)",
                        num_samples="tokens drawn with ms.sample",
                        sample_steps="sampler steps",
                        seed="sampler seed"))
np.set_printoptions(precision=4, suppress=True)
print(opt)

# %% [markdown]
# ## 1. The concrete score
#
# Take a distribution p0 over 4 tokens and noise it with the kernel of lesson 01,
# P = expm(sigma_bar Q) (derived in lesson 01): as a row vector, p_t = p0 P. The **concrete
# score** at a token x is the vector of ratios
#
#     s_x(y) = p_t(y) / p_t(x),        s_x(x) = 1.
#
# It plays the role that grad log p plays in continuous diffusion: from where we stand (x) it
# says how much more likely each other token y is. The normalizing constant of p_t cancels in
# the ratio, which is why a network can learn it without knowing that constant. For a
# sequence x of length L the score changes one position at a time:
#
#     s(x)[i, y] = p_t(x with x_i := y) / p_t(x),      s(x)[i, x_i] = 1,
#
# an (L, n) array; a score model returns its logarithm for a batch of B sequences,
# `log_score(x_t, sigma_bar)` -> (B, L, n).
#
# On the absorbing graph the 4 real tokens get a fifth token, [MASK] (id 4), and p0(MASK) = 0.
# With the closed form of lesson 01, p_t(y) = p0(y) e^{-sigma_bar} for a real y and
# p_t(MASK) = 1 - e^{-sigma_bar}, so from [MASK]
#
#     s_MASK(y) = p0(y) e^{-sigma_bar} / (1 - e^{-sigma_bar}) = p0(y) / expm1(sigma_bar),
#
# huge at small noise (a masked token is surprising then) and tiny at large noise, while
# between two real tokens s_x(y) = p0(y) / p0(x) at every t. The schedules are lesson 01's
# (`ms.problem`): Geometric(1e-4, 20) for the uniform graph, LogLinear(1e-3) for the absorbing
# one.

# %%
PROBS0 = np.array([0.05, 0.15, 0.30, 0.50])                 # p0 over the 4 real tokens
SETUPS = {kind: ms.problem(kind, len(PROBS0)) for kind in ("uniform", "absorbing")}


def direct_ratios(graph, sb):
    """s[x, y] = p_t(y) / p_t(x) with p_t = p0 P, straight from the definition; (n, n)."""
    p0 = np.zeros(graph.n)
    p0[:len(PROBS0)] = PROBS0                               # p0(MASK) = 0 on the absorbing graph
    p_t = p0 @ graph.transition(sb)                         # (n,) noised distribution
    return p_t[None, :] / p_t[:, None]                      # (n, n)


print(f"concrete scores s[x, y] = p_t(y) / p_t(x) of p0 = {PROBS0.tolist()} (row x, column y)")
for kind, (graph, noise) in SETUPS.items():
    for t in (0.5, 0.9):
        sb = float(noise.total(t))
        print(f"{graph!r} with {noise!r}, t = {t} (sigma_bar = {sb:.4f}):\n"
              f"{direct_ratios(graph, sb)}")

# %% [markdown]
# Look at: on the uniform graph every ratio moves toward 1 as t grows (p_t -> uniform). On the
# absorbing graph the last row (from [MASK]) is p0(y) / expm1(sigma_bar), and the ratios among
# real tokens stay p0(y) / p0(x) at every t.
#
# ## 2. ExactScore computes the same ratios
#
# `ms.ExactScore(graph, sequences, probs)` is the exact score of a distribution over a list of
# sequences. A one-token distribution is the list of the 4 one-token sequences
# arange(4)[:, None] with probabilities p0. We evaluate it at every token x (a batch of n
# sequences of length 1) and compare with the direct formula at several noise levels (relative
# difference, since ratios span many orders of magnitude).

# %%
def exact_ratios(score, sb):
    """The same matrix from ExactScore: row x is exp(log_score) of the one-token sequence (x)."""
    x_t = np.arange(score.graph.n)[:, None]                 # (n, 1): every token, length 1
    return np.exp(score.log_score(x_t, sb)[:, 0, :])        # (n, n)


SCORES = {kind: ms.ExactScore(graph, np.arange(len(PROBS0))[:, None], PROBS0)
          for kind, (graph, noise) in SETUPS.items()}
sbs = [1e-3, 0.1, 1.0, 5.0]
ratio_rel_diff = {}
for kind, (graph, noise) in SETUPS.items():
    ratio_rel_diff[kind] = max(
        float(np.abs(exact_ratios(SCORES[kind], sb) / direct_ratios(graph, sb) - 1.0).max())
        for sb in sbs)
print(f"max relative difference ExactScore / direct formula - 1 over sigma_bar in {sbs}:")
table(["graph", "max relative difference"],
      [(repr(SETUPS[k][0]), v) for k, v in ratio_rel_diff.items()], floatfmt="{:.1e}")

# %% [markdown]
# ## 3. Running time backward: the reverse rates
#
# A Markov chain watched backward in time is again a Markov chain; we need its rates. Over a
# short step h the forward chain moves y -> x (y != x) with probability h sigma(t) Q[y, x]
# + o(h), so the probability of "at y at time t, at x at time t + h" is
# p_t(y) h sigma(t) Q[y, x] + o(h). Backward, the chain is at x at time t + h and we ask for
# the probability that it was at y a moment before:
#
#     P(x_t = y | x_{t+h} = x) = p_t(y) h sigma(t) Q[y, x] / p_{t+h}(x) + o(h).
#
# Dividing by h and letting h -> 0 (p_{t+h}(x) -> p_t(x)), the reversed chain jumps x -> y
# at rate
#
#     R_t[x, y] = sigma(t) Q[y, x] p_t(y) / p_t(x) = sigma(t) Q[y, x] s_x(y)      (y != x),
#
# with R_t[x, x] = -(sum of the row) so that rows sum to 0. The forward rate *into* x
# appears, Q[y, x] (the engine keeps it as `graph.Q_in[x, y] = Q[y, x]`), and the concrete
# score is the only thing about p_t the reverse process needs.
#
# (a) Evolving the distribution. Going from t to t - h, a distribution q over tokens changes
# as q <- q + h q R_t: one Euler step of the reverse chain's master equation. We start from
# the graph's limit (uniform / all [MASK]) at t = 1, take `evolve_steps` equal steps down to
# t_end, and compare q with the exact forward marginal p_t along the way. A step is a proper
# stochastic update only if h * (rate of leaving a token) <= 1; we print the largest value of
# that product.
#
# On the absorbing graph the rates from [MASK] grow like 1/t as t -> 0 (p0(y) / expm1(sigma_bar)
# blows up), so we stop at t_end = 1e-4. With LogLinear the total rate of leaving [MASK] is
# sigma(t) sum_y p0(y) / expm1(sigma_bar) = 1/t exactly, so each Euler step multiplies the
# masked mass by 1 - h/t = t_{k+1}/t_k: it falls from 1 at t = 1 to t_end = 1e-4, in step with
# the forward process (which has (1 - eps) t masked at time t; we started with all of the mass
# masked instead of 1 - eps of it). Dropping [MASK] and renormalizing (what a sampler's final
# step does) gives the recovered p0.

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


print(f"evolving the distribution backward ({opt.evolve_steps} Euler steps, t = 1 -> {opt.t_end})")
evolved, curves = {}, {}
for kind, (graph, noise) in SETUPS.items():
    ts, qs, worst = evolve_backward(graph, noise, SCORES[kind], opt.evolve_steps, opt.t_end)
    p0 = np.zeros(graph.n)
    p0[:len(PROBS0)] = PROBS0
    p_ts = p0 @ graph.transition(noise.total(ts))           # (steps + 1, n): exact marginals
    tv_path = 0.5 * np.abs(qs - p_ts).sum(axis=1)           # TV(q_t, p_t) at every step
    q_end = qs[-1]
    recovered = q_end[:len(PROBS0)] / q_end[:len(PROBS0)].sum()  # drop [MASK] (if any), renormalize
    r = evolved[kind] = {
        "tv_start": float(tv_path[0]), "tv_path_max": float(tv_path.max()),
        "tv_end_to_p_t": float(tv_path[-1]), "tv_to_p0": ms.tv_distance(recovered, PROBS0),
        "masked_left": float(q_end[len(PROBS0):].sum()), "min_q": float(qs.min()),
        "worst_h_rate": worst, "recovered": recovered}
    curves[kind] = (ts, qs, p_ts)
    print(f"{graph!r}: TV(q, p_t) at t = 1: {r['tv_start']:.1e}, largest on the way: "
          f"{r['tv_path_max']:.1e}, at t_end: {r['tv_end_to_p_t']:.1e}")
    print(f"    recovered {recovered}  vs p0 {PROBS0}:  TV = {r['tv_to_p0']:.1e}"
          + (f"   (mass still masked at t_end: {r['masked_left']:.2e})"
             if kind == "absorbing" else ""))
    print(f"    smallest probability on the way {r['min_q']:.2e} (>= 0), largest h * exit rate "
          f"{worst:.2f} (<= 1)")

# %% [markdown]
# Expect: TV to p0 of a few 1e-4 or below. On the uniform graph what is left is mostly Euler's
# step error, which shrinks in proportion to h (double the steps, about halve the TV). The
# absorbing run starts from all-[MASK], 1e-3 away from the true p_1, and still ends on p_t: a
# masked token carries no information, so starting fully masked loses nothing.
#
# ## 4. Running time backward: the Tweedie step, and sampling
#
# (b) Sampling simulates the same reverse chain token by token. Instead of small Euler steps
# we can take the **exact** reverse transition of one token over a whole step. Go from
# sigma_bar = sb at time t back to sb - delta at an earlier time t'. By the semigroup property
# of lesson 01, P(sb) = P(sb - delta) P(delta), so p_t = p_{t'} P(delta), and Bayes' rule gives
#
#     p(x_{t'} = y | x_t = x) = p_{t'}(y) P(delta)[y, x] / p_t(x).
#
# p_{t'} is not known, but P(delta) = expm(delta Q) has the inverse expm(-delta Q), so
# p_{t'} = p_t expm(-delta Q), and dividing by p_t(x) turns p_t into the concrete score at x:
#
#     p_{t'}(y) / p_t(x) = sum_z (p_t(z) / p_t(x)) expm(-delta Q)[z, y] = (s_x expm(-delta Q))_y.
#
# Hence the **Tweedie step** (the paper's name: it derives the step from a discrete analogue of
# Tweedie's formula, which denoises with the score in continuous diffusion)
#
#     p(y)  proportional to  (s expm(-delta Q))_y  expm(delta Q)[y, x]      (s = s_x, a row vector)
#
# which is exact for one token when s is the exact score (then the right side already sums
# to 1; with a learned score it is normalized). `ms.sample(score, noise, num_samples, steps,
# method="tweedie")` starts at the limit, takes `steps` such steps from t = 1 down to a small
# t_end (its own default, 1e-5, not the t_end of section 3), and a last one to zero noise;
# on a sequence it applies the step to every position independently. For one token its only
# error is then sampling noise: the expected TV between the frequencies of S draws and p0 is
# about sum_y sqrt(p0(y) (1 - p0(y)) / (2 pi S)). (Each frequency is about normal around p0(y)
# with standard deviation sd_y = sqrt(p0(y) (1 - p0(y)) / S); a normal's mean absolute
# deviation is its standard deviation times sqrt(2 / pi); and TV is half the sum of the
# absolute differences.)
#
# `method="euler"` instead draws the next token from row x of I + h R_t, the step of section
# 3 applied to one token (lesson 05 works it out); it treats the rates as constant over a step
# and so adds a time-discretization error, visible on the uniform graph. On the absorbing
# graph with LogLinear the two steps coincide (lesson 05 shows why), so from the same seed
# they draw the same tokens.

# %%
expected_tv = float(np.sum(np.sqrt(PROBS0 * (1 - PROBS0) / (2 * np.pi * opt.num_samples))))
print(f"sampling with the exact score ({opt.num_samples} tokens, {opt.sample_steps} steps)")
print(f"sampling noise alone: expected TV about {expected_tv:.4f}")
sampled, rows = {}, []
for kind, (graph, noise) in SETUPS.items():
    for method in ("tweedie", "euler"):
        x = ms.sample(SCORES[kind], noise, opt.num_samples, steps=opt.sample_steps,
                      method=method, rng=opt.seed)          # (S, 1) clean tokens
        freq = np.bincount(x[:, 0], minlength=len(PROBS0)) / opt.num_samples
        sampled[f"{kind}_{method}"] = {"freq": freq, "tv": ms.tv_distance(freq, PROBS0)}
        rows.append((repr(graph), method, str(freq), ms.tv_distance(freq, PROBS0)))
table(["graph", "method", "frequencies", "TV to p0"], rows)

# %% [markdown]
# ## 5. The figure
#
# Top row, one panel per graph: the ratios s_x(y) against t from one token x (token 3 on the
# uniform graph, [MASK] on the absorbing one), lines from the direct formula and dots from
# ExactScore. Bottom row, one panel per graph: the distribution evolved backward (solid) on
# top of the exact forward marginals (dashed). Right panel, spanning both rows: p0 and what the
# reverse process recovered, by evolving the distribution and by Tweedie sampling.

# %%
colors = matplotlib.colormaps["tab10"](np.arange(10))
fig, axes = figure(2, 3, figsize=(14, 8), gridspec_kw=dict(width_ratios=[1, 1, 1.1]))
t_line = np.linspace(0.0, 1.0, 301)
t_dots = np.linspace(0.1, 1.0, 10)
names = [f"token {y} (p0 = {PROBS0[y]:.2f})" for y in range(len(PROBS0))]
for col, (kind, (graph, noise)) in enumerate(SETUPS.items()):
    x = 3 if kind == "uniform" else graph.mask_id           # the token we stand on
    ax = axes[0, col]
    p0 = np.zeros(graph.n)
    p0[:len(PROBS0)] = PROBS0
    sb_line = np.maximum(noise.total(t_line), 1e-12)        # sigma_bar > 0: p_t(MASK) > 0
    p_line = p0 @ graph.transition(sb_line)                 # (301, n): p_t on the line's grid
    for y in range(len(PROBS0)):
        if y == x:
            continue
        ax.plot(t_line, p_line[:, y] / p_line[:, x], color=colors[y], label=f"y = {names[y]}")
        dots = [exact_ratios(SCORES[kind], float(noise.total(t)))[x, y] for t in t_dots]
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

    ax = axes[1, col]
    ts, qs, p_ts = curves[kind]
    for y in range(graph.n):
        name = names[y] if y < len(PROBS0) else "[MASK]"
        color = colors[y] if y < len(PROBS0) else "0.3"
        ax.plot(ts, qs[:, y], color=color, lw=2, label=name)
        ax.plot(ts, p_ts[:, y], "--", color="k", lw=0.8)
    ax.set_xlim(1, 0)                                       # time runs backward, left to right
    ax.set_ylim(0, 1)
    ax.set_xlabel("t (running backward)")
    ax.set_ylabel("probability")
    ax.set_title(f"{graph!r}: q_t evolved backward from the limit\n(dashed: exact forward "
                 f"p_t); TV to p0 at the end {evolved[kind]['tv_to_p0']:.1e}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left" if kind == "uniform" else "center left")

grid = axes[0, 2].get_subplotspec().get_gridspec()
axes[0, 2].remove()
axes[1, 2].remove()
ax = fig.add_subplot(grid[:, 2])                            # the right panel spans both rows
bars = [("p0", PROBS0, "k")]
for kind in SETUPS:
    bars.append((f"{kind}: evolved (TV {evolved[kind]['tv_to_p0']:.0e})",
                 evolved[kind]["recovered"], None))
    tw = sampled[f"{kind}_tweedie"]
    bars.append((f"{kind}: Tweedie samples (TV {tw['tv']:.3f})", tw["freq"], None))
width = 0.8 / len(bars)
for k, (label, values, color) in enumerate(bars):
    ax.bar(np.arange(len(PROBS0)) + (k - (len(bars) - 1) / 2) * width, values, width,
           label=label, color=color if color else colors[5 + k])
ax.set_xticks(np.arange(len(PROBS0)))
ax.set_xticklabels([f"token {y}" for y in range(len(PROBS0))])
ax.set_ylabel("probability")
ax.set_title("p0 and what the reverse process recovered\n"
             f"(expected sampling TV ~{expected_tv:.3f})", fontsize=9)
ax.legend(fontsize=8, loc="upper left")
show_figure(fig, "02_concrete_score.png", opt)
