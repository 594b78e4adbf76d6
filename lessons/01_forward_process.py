# %% [markdown]
# # Lesson 01: the forward process
#
# How a token, and then a sentence, is turned into noise. This lesson builds the forward
# half of SEDD (Score Entropy Discrete Diffusion) and derives every formula it uses:
#
# 1. rate matrices Q in the row convention, for the two graphs SEDD uses: Uniform (jump
#    anywhere) and Absorbing (jump to [MASK]);
# 2. the transition kernel P = expm(sigma_bar Q) from the Kolmogorov forward equation, and the
#    closed forms of P for both graphs (checked against scipy's `expm`);
# 3. the two noise schedules, Geometric and LogLinear, with their rates;
# 4. the sentence "I love NLP ." diffusing under each graph;
# 5. a step-by-step simulation of many copies of one word against the exact marginals (figure).
#
# What to expect: the closed forms match `expm` to ~1e-15 and every row of P sums to 1 to
# ~1e-16. Under the uniform graph each word is kept with probability above 0.96 up to t = 0.5
# (a whole four-word sentence: 0.86) and 0.88 at t = 0.6 (a sentence: 0.59), and the words are
# random at t = 1; under the absorbing graph a word is masked with probability (1 - eps) t.
# The simulated frequencies in the figure sit on the exact curves, within sampling noise.
#
# Run it as a notebook (jupytext), or as a script: `python lessons/01_forward_process.py`
# (about 3 s on a 2-core AMD EPYC server, one lesson at a time; writes figures/01_forward_process.png);
# `--help` lists the options; `MINISEDD_QUICK=1` (or `--quick`) selects small settings.

# %%
import matplotlib
import numpy as np

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table

opt = options("Lesson 01: the forward process",
              full=dict(num_paths=2000, num_times=21, seed=0),
              quick=dict(num_paths=300, num_times=6),
              help=dict(num_paths="copies of the word 'NLP' noised step by step for the figure",
                        num_times="noise levels along each step-by-step path",
                        seed="random seed of the whole lesson"))
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(opt.seed)       # every random draw below comes from this generator
print(opt)

# %% [markdown]
# ## 1. Rate matrices
#
# One token takes one of n values and jumps between them at random times: a continuous-time
# Markov chain. It is described by a rate matrix Q. We use the **row convention**: row x says
# where a token at x goes. Over a short time h,
#
#     P(jump x -> y within h) = h Q[x, y] + o(h)          for y != x,  so Q[x, y] >= 0,
#     P(still at x after h)   = 1 + h Q[x, x] + o(h).
#
# These probabilities sum to 1 for every h, so the h-terms cancel: **every row of Q sums to 0**,
# and -Q[x, x] is the total rate of leaving x.
#
# * Uniform(n): Q = 11^T / n - I. A token jumps to each of the n tokens at rate 1/n (a "jump"
#   to itself changes nothing, so it leaves at rate 1 - 1/n). All n tokens can appear in clean
#   data: `graph.n_clean = n`.
#   The paper writes Q = 11^T - n I, n times ours. Like the authors' code, we divide by n, so
#   that a token leaves at rate about 1 whatever the vocabulary; our sigma_bar is then the
#   paper's n sigma_bar.
# * Absorbing(n): the last token, `graph.mask_id = n - 1`, is [MASK]. Every other token jumps
#   to it at rate 1 (Q[x, mask_id] = 1, Q[x, x] = -1), and [MASK] never leaves (its row is
#   all zeros). Clean data uses the other `graph.n_clean = n - 1` tokens.

# %%
for graph in (ms.Uniform(4), ms.Absorbing(4)):
    print(f"{graph!r}: n = {graph.n}, n_clean = {graph.n_clean}; "
          f"Q (row x = from, column y = to) =")
    print(graph.Q + 0.0)                                    # + 0.0 turns -0. into 0.
    print(f"  row sums: {graph.Q.sum(axis=1)}\n")

# %% [markdown]
# ## 2. The transition kernel P = expm(sigma_bar Q)
#
# The chain runs with time-dependent rates sigma(t) Q: the schedule sigma(t) >= 0 says how
# fast noise is added at time t in [0, 1]. Let P(t)[x0, x] = p(x_t = x | x0). To be at x
# at time t + h, be somewhere z at time t and then move z -> x in the short step:
#
#     P(t + h)[x0, x] = sum_z P(t)[x0, z] (I + h sigma(t) Q)[z, x] + o(h),
#
# that is P(t + h) = P(t) (I + h sigma(t) Q) + o(h), and letting h -> 0 gives the
# **Kolmogorov forward equation**
#
#     dP/dt = sigma(t) P Q,        P(0) = I.
#
# Define the total noise sigma_bar(t) = integral of sigma from 0 to t. Then
# P(t) = expm(sigma_bar(t) Q) solves it: the derivative of expm(sigma_bar Q) is
# sigma_bar'(t) expm(sigma_bar Q) Q = sigma(t) P Q, and expm(0) = I. So the kernel depends on
# time only through sigma_bar, and `graph.transition(sigma_bar)` returns
#
#     P = expm(sigma_bar Q),       P[x0, x] = p(x_t = x | x0),   every row sums to 1.
#
# From here on P(sigma_bar) means expm(sigma_bar Q), a function of the total noise: the P(t)
# of the derivation above is P(sigma_bar(t)).
#
# The matrix exponential is the general definition (`ms.Graph(Q)` works for any rate matrix
# through scipy's `expm`). Our two graphs have closed forms. Write m = 1 - e^{-sigma_bar}:
#
# * **Uniform.** Let E = 11^T / n. Then E E = E (each entry of 11^T 11^T is n), so
#   expm(a E) = I + (e^a - 1) E. Since Q = E - I and I commutes with E,
#   P = e^{-sigma_bar} expm(sigma_bar E) = e^{-sigma_bar} I + (1 - e^{-sigma_bar}) E, i.e.
#
#       P = (1 - m) I + m 11^T / n.
#
#   Read it as: with probability m the token has jumped (to a uniformly random token, which
#   may be itself), otherwise it is unchanged.
# * **Absorbing.** A real token x leaves only to [MASK], at rate 1, so P[x, x] obeys
#   d P[x, x] / d sigma_bar = -P[x, x], giving P[x, x] = e^{-sigma_bar}; it can never reach
#   another real token, so P[x, y] = 0 for a real y != x, and the rest of the row is
#   P[x, mask_id] = 1 - e^{-sigma_bar} = m. [MASK] stays: P[mask_id, mask_id] = 1.
#
# So m is the probability that a token has been resampled (on the absorbing graph: masked) by
# total noise sigma_bar; on the uniform graph it then differs from x0 with probability
# m (1 - 1/n), as the new token may be x0 again. For small
# sigma_bar, 1 - e^{-sigma_bar} suffers cancellation; the code computes it as
# -expm1(-sigma_bar). Below, the closed forms (`ms.Uniform`, `ms.Absorbing`) are compared with
# scipy's `expm` (`ms.Graph(graph.Q)`, the same Q without the closed form).

# %%
sbs = np.array([1e-4, 0.1, 1.0, 5.0, 20.0])                 # sigma_bar values to test
rows = []
for graph in (ms.Uniform(4), ms.Absorbing(4), ms.Uniform(8), ms.Absorbing(9)):
    closed = graph.transition(sbs)                          # (5, n, n), closed form
    general = ms.Graph(graph.Q).transition(sbs)             # (5, n, n), scipy expm
    rows.append((repr(graph), float(np.abs(closed - general).max()),
                 float(np.abs(closed.sum(axis=2) - 1.0).max()), float(closed.min())))
print(f"closed form against expm at sigma_bar in {sbs.tolist()}:")
table(["graph", "max |closed form - expm|", "max |row sum - 1|", "min entry"], rows,
      floatfmt="{:.1e}")
expm_diff_max = max(r[1] for r in rows)
row_sum_err_max = max(r[2] for r in rows)

# %% [markdown]
# One entry by hand, so the formula is not taken on trust: at sigma_bar = 1 the uniform
# kernel on 4 tokens keeps a token with probability (1 - m) + m / 4 = e^{-1} + (1 - e^{-1}) / 4.
#
# And one property that the next sections rely on: noising by a and then by b is noising by
# a + b, P(a) P(b) = P(a + b) (expm(a Q) expm(b Q) = expm((a + b) Q) because aQ and bQ
# commute). This is the semigroup (Chapman-Kolmogorov) property of the chain: a sentence can
# be noised step by step, and the steps add up to the whole.

# %%
P = ms.Uniform(4).transition(1.0)
print(f"Uniform(4) at sigma_bar = 1:\n{P}")
print(f"  P[0, 0] = {P[0, 0]:.6f};  by hand e^-1 + (1 - e^-1)/4 = "
      f"{np.exp(-1) + (1 - np.exp(-1)) / 4:.6f}")
print(f"Absorbing(4) at sigma_bar = 1 (mask_id = 3):\n{ms.Absorbing(4).transition(1.0)}")
semigroup_err = max(float(np.abs(g.transition(0.3) @ g.transition(1.7) - g.transition(2.0)).max())
                    for g in (ms.Uniform(8), ms.Absorbing(9)))
print(f"\nmax |P(0.3) P(1.7) - P(2.0)| over Uniform(8) and Absorbing(9) = {semigroup_err:.1e}")

# %% [markdown]
# ## 3. Noise schedules: sigma_bar(t) and its rate sigma(t)
#
# A schedule is a total noise sigma_bar(t), increasing from (near) 0 at t = 0; its rate is
# sigma(t) = d sigma_bar / dt. `noise.total(t)` and `noise.rate(t)` return the two.
#
# * **Geometric(sigma_min, sigma_max)**, used with the uniform graph. We want the noise to
#   grow by the same factor in every equal step of t, i.e. log sigma_bar linear in t, from
#   log sigma_min at t = 0 to log sigma_max at t = 1:
#   log sigma_bar(t) = (1 - t) log sigma_min + t log sigma_max, so
#
#       sigma_bar(t) = sigma_min^(1-t) sigma_max^t,
#       sigma(t) = sigma_bar(t) ln(sigma_max / sigma_min).
#
#   With (1e-4, 20): at t = 1, m = 1 - e^{-20}, so the token is uniform to ~1e-9. Note that
#   sigma_bar(0) = sigma_min is not 0: the data is already noised a little at t = 0.
# * **LogLinear(eps)**, used with the absorbing graph. There m = 1 - e^{-sigma_bar} is the
#   probability that a token is masked (section 2). Ask for it to grow linearly in time,
#   P(masked at t) = (1 - eps) t (stopping just short of 1 at t = 1, where sigma_bar would be
#   infinite): 1 - e^{-sigma_bar} = (1 - eps) t, so
#
#       sigma_bar(t) = -log(1 - (1 - eps) t),   sigma(t) = (1 - eps) / (1 - (1 - eps) t).
#
#   sigma_bar(1) = -log(eps), about 6.9 for eps = 1e-3; for small t it is computed with log1p.
#
# `ms.problem(kind, n_clean)` builds the pair every later lesson uses: ("uniform":
# Uniform(n_clean) with Geometric(1e-4, 20); "absorbing": Absorbing(n_clean + 1) with
# LogLinear(1e-3)). The toy corpus has `ms.TOY_N_CLEAN` = 8 clean words. We check the
# formulas: the rate against a centred difference of the total noise, and on the absorbing
# graph P(masked at t) against (1 - eps) t.

# %%
SETUPS = {kind: ms.problem(kind, ms.TOY_N_CLEAN) for kind in ("uniform", "absorbing")}
t_check = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
h = 1e-6
rate_rel_err = {}
for kind, (graph, noise) in SETUPS.items():
    sb = noise.total(t_check)                               # (5,) sigma_bar(t)
    slope = (noise.total(t_check + h) - noise.total(t_check - h)) / (2 * h)   # d sigma_bar / dt
    print(f"{graph!r} with {noise!r}")
    table(["t", "sigma_bar(t)", "sigma(t)", "centred difference of sigma_bar"],
          [(float(t), float(a), float(b), float(c))
           for t, a, b, c in zip(t_check, sb, noise.rate(t_check), slope)], floatfmt="{:.5g}")
    rate_rel_err[kind] = float(np.abs(slope / noise.rate(t_check) - 1).max())
    print(f"max relative difference rate vs centred difference: {rate_rel_err[kind]:.1e}")
masked = SETUPS["absorbing"][0].transition(SETUPS["absorbing"][1].total(t_check))[:, 0, -1]
masked_err = float(np.abs(masked - (1 - SETUPS["absorbing"][1].eps) * t_check).max())
print(f"absorbing: max |P(masked at t) - (1 - eps) t| = {masked_err:.1e}")

# %% [markdown]
# ## 4. A sentence diffusing
#
# The toy vocabulary has 9 words: `<pad>`, I, You, We, love, AI, NLP, ., and [MASK] (id 8).
# The uniform graph works on the first 8 (no [MASK]); the absorbing graph adds [MASK]
# (n = 9). In a sentence of length L each position is noised independently, with the same
# kernel.
#
# Two copies of "I love NLP ." are noised step by step along the listed times: from t_k to
# t_{k+1} each position takes one draw from P(sigma_bar(t_{k+1}) - sigma_bar(t_k)). By the
# semigroup property (section 2) each row is then a draw from P(sigma_bar(t))[x0, .], the
# marginal at that t. "P(word kept)" is the kernel's diagonal entry P[x0, x0].

# %%
SENTENCE = "I love NLP ."
x0 = ms.encode(SENTENCE)                                    # (4,) token ids
times = np.array([0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
sentences = {}
for kind, (graph, noise) in SETUPS.items():
    sbs = noise.total(times)                                # sigma_bar(t) at each listed t
    print(f"\n{graph!r} with {noise!r}")
    print(f"{'t':>5s} {'sigma_bar':>10s} {'P(word kept)':>13s}   {'copy 1':28s} copy 2")
    print(f"{'clean':>5s} {0.0:10.4f} {1.0:13.4f}   {SENTENCE:28s} {SENTENCE}")
    x = np.tile(x0, (2, 1))                                 # (2, 4): two copies of the sentence
    prev, sentences[kind] = 0.0, []
    for t, sb in zip(times, sbs):
        x = graph.sample_transition(x, sb - prev, rng)      # one more step of noise
        prev = sb
        kept = graph.transition(sb)[x0[0], x0[0]]           # P[x0, x0]: a word is unchanged
        words = ms.decode(x)                                # two strings
        sentences[kind].append((float(t), float(sb), float(kept), words))
        print(f"{t:5.2f} {sb:10.4f} {kept:13.4f}   {words[0]:28s} {words[1]}")

# %% [markdown]
# Look at: under the uniform graph a word is kept with probability above 0.96 up to t = 0.5 and
# 0.88 at t = 0.6, so an early replacement (as in the first copy, full settings, at t = 0.3) is
# unlucky but possible; then the words become random ones (P(word kept) -> 1/8: the limit is
# uniform over 8 words).
# Under the absorbing graph words turn into [MASK] at a steady pace (P(masked) = (1 - eps) t),
# and a word is never replaced by a wrong one.
#
# ## 5. The marginal of one position against t
#
# For the word "NLP" (position 2) the figure stacks P(x_t = v | x0 = NLP) for every token v
# as t goes from 0 to 1: the exact curves from the kernel, with "NLP" as the bottom band
# (then [MASK] on the absorbing graph, then the other words; tokens that can never appear are
# left out). The legend lists the bands from the top of the stack to the bottom. The dots are
# the fraction of `num_paths` copies noised step by step (as in section 4) that still read
# "NLP": if the step-by-step chain and the kernel agree, they sit on the top edge of the
# bottom band, within sampling noise (3 standard deviations of a frequency of `num_paths`
# draws are at most 3 sqrt(1/4 / num_paths)).

# %%
pos = 2
word = x0[pos]                                              # the word "NLP"
t_grid = np.linspace(0.0, 1.0, 201)
t_path = np.linspace(0.0, 1.0, opt.num_times)
colors = matplotlib.colormaps["tab10"](np.arange(10))
fig, axes = figure(1, 2, figsize=(12, 4.6))
path_max_dev = {}
for ax, (kind, (graph, noise)) in zip(axes, SETUPS.items()):
    marg = graph.transition(noise.total(t_grid))[:, word, :]   # (201, n): P_t[NLP, v]
    order = [word] + ([graph.mask_id] if kind == "absorbing" else [])
    order += [v for v in range(graph.n) if v not in order and marg[:, v].max() > 0]
    bands = ax.stackplot(t_grid, marg[:, order].T, labels=[ms.TOY_VOCAB[v] for v in order],
                         colors=[colors[v % 10] for v in order], alpha=0.85)
    x = np.full((opt.num_paths, 1), word)                   # (num_paths, 1) copies of "NLP"
    prev, freq = 0.0, []
    for sb in noise.total(t_path):                          # noise step by step
        x = graph.sample_transition(x, sb - prev, rng)
        prev = sb
        freq.append(float((x == word).mean()))
    exact = graph.transition(noise.total(t_path))[:, word, word]
    path_max_dev[kind] = float(np.abs(np.array(freq) - exact).max())
    dots, = ax.plot(t_path, freq, "ko", ms=4,
                    label=f"simulated: still 'NLP'\n({opt.num_paths} paths)")
    ax.set_title(f"{graph!r} with {noise!r}\nP(x_t = v | x0 = NLP), stacked", fontsize=10)
    ax.set_xlabel("t")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    # legend from the top band down, as the bands are stacked; the dots last
    ax.legend(handles=bands[::-1] + [dots], loc="center left", fontsize=8, framealpha=0.9)
axes[0].set_ylabel("probability (stacked)")
show_figure(fig, "01_forward_process.png", opt)

path_noise_bound = 3.0 * np.sqrt(0.25 / opt.num_paths)     # 3 standard deviations, worst p = 1/2
print(f"step-by-step simulation against the kernel ({opt.num_paths} paths, "
      f"{opt.num_times} times):")
for kind, dev in path_max_dev.items():
    print(f"{kind:10s} max |simulated - exact| of P(x_t = NLP) = {dev:.4f}   "
          f"(sampling noise: 3 sd <= {path_noise_bound:.4f})")
