# %% [markdown]
# # Lesson 05: sampling -- the reverse process with the exact score and with trained ones
#
# Lesson 04 trained score networks; this lesson generates with them. `ms.sample` starts at the
# graph's limit (t = 1) and walks back to t ~ 0 in a number of steps, then removes the last
# bit of noise. We derive
#
# 1. the **Euler step** from the reverse rates, and the **denoiser** (a last Tweedie step to
#    zero noise), and why on the absorbing graph with the log-linear schedule Euler and
#    Tweedie take exactly the same step; all checked with the exact score;
# 2. then train both graphs (the recipe of lesson 04) and measure how the total-variation
#    distance between samples and the data depends on the number of steps, for both samplers,
#    with the exact score and with the trained models (figures/05_tv_vs_steps.png);
# 3. what this toy corpus cannot show (its positions are independent), with a two-sentence
#    preview of what goes wrong when positions depend on each other (lesson 08 goes on).
#
# What to expect: with the exact score, Tweedie is at the sampling-noise floor (TV ~ 0.014
# for 4000 samples) from a single step on. Trained models (train's defaults, 3000 steps,
# retrained here in about 20 s each): with 64 Tweedie steps at least 99% of 4000 samples
# are training sentences and the TV is at most 0.05.
#
# Run it as a notebook (jupytext), or as a script: `python lessons/05_sampling.py`
# (about 1 minute on a 2-core AMD EPYC server, one lesson at a time; writes figures/05_tv_vs_steps.png);
# `--help` lists the options; `MINISEDD_QUICK=1` (or `--quick`) selects small settings.

# %%
import numpy as np

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table, timed

opt = options("Lesson 05: sampling with Euler and Tweedie",
              full=dict(steps=3000, seed=0, num_samples=4000, max_steps=64),
              quick=dict(steps=20, num_samples=300, max_steps=4),
              help=dict(steps="training steps per graph",
                        seed="seed of training and sampling",
                        num_samples="samples per point of the TV curves (and of the headline)",
                        max_steps="largest number of sampling steps (a power of 2)"))
if opt.max_steps < 1 or opt.max_steps & (opt.max_steps - 1):
    raise ValueError(f"max_steps must be a power of 2, got {opt.max_steps}")
print(opt)
rng = np.random.default_rng(opt.seed)
sentences = ms.TOY_SENTENCES                           # (6, 4): {I, You, We} love {AI, NLP} .
p_data = np.full(len(sentences), 1.0 / len(sentences))  # the six sentences are equally likely
KINDS = ("absorbing", "uniform")
METHODS = ("tweedie", "euler")
print(f"{len(sentences)} sentences, each with probability {p_data[0]:.4f}")

# %% [markdown]
# ## 1. The reverse process, step by step
#
# `ms.sample(score, noise, N, steps, method)` starts N sentences at the graph's limit (t = 1:
# all [MASK] on the absorbing graph, uniformly random words on the uniform graph) and walks t
# down to t_end = 1e-5 in `steps` equal steps of size dt. At each step every position moves
# independently, reading the score s = exp(log_s(x, sigma_bar(t))) of the current sentence.
#
# **Euler.** Lesson 02 derived the reverse-time rates: at position i the reversed chain jumps
# x_i -> y at rate sigma(t) Q[y, x_i] s[i, y]. A jump process with rate R_y to y moves there in
# a short time dt with probability R_y dt + O(dt^2) and stays with 1 - sum_y R_y dt + O(dt^2).
# Dropping the O(dt^2) gives the Euler step:
#
#     p(y) = dt sigma(t) Q[y, x_i] s[i, y]  (y != x_i),    p(x_i) = 1 - sum_{y != x_i} p(y),
#
# with negative values (a step too long) clipped to 0 and the row renormalized. Its error is
# first order in dt.
#
# **Tweedie** (derived in lesson 02): with delta = sigma_bar(t) - sigma_bar(t - dt),
# p(y) proportional to (s expm(-delta Q))_y expm(delta Q)[y, x_i]: the exact reverse
# transition of one position, if s is the exact score.
#
# **The denoiser.** The walk stops at t_end, where sigma_bar(t_end) is small but not 0: on the
# absorbing graph a few positions may still be masked. One token with noisy value x has, by
# Bayes, p(x0 = y | x) = p0(y) P[y, x] / p_t(x). With sb = sigma_bar(t_end), the noise left, and
# p_t as a row vector, p_t = p0 expm(sb Q), so p0 = p_t expm(-sb Q), and
#
#     p0(y) / p_t(x) = sum_z (p_t(z) / p_t(x)) expm(-sb Q)[z, y] = (s expm(-sb Q))_y,
#
# hence p(x0 = y | x) = (s expm(-sb Q))_y expm(sb Q)[y, x]: the Tweedie step with delta equal
# to *all* the remaining noise, sb, down to zero noise. For a sentence, s is position i's
# score given the rest, so each position gets its clean-token posterior. At zero
# noise [MASK] is impossible. At a masked position the formula gives [MASK] a weight
# proportional to 1 - expm1(sb) sum_y s_y (worked out below), which is 0 up to rounding for
# the exact score and for a normalized one (lesson 04), but not for a free score head; so
# `ms.denoise_probs` drops [MASK] and renormalizes over the real words.
#
# **Why Euler = Tweedie on the absorbing graph with LogLinear noise.** At a masked position
# Q[y, MASK] = 1, so Euler unmasks to y with probability dt sigma(t) s_y. For Tweedie, with the
# closed forms of lesson 01, expm(delta Q)[y, MASK] = 1 - e^{-delta} and
# (s expm(-delta Q))_y = s_y e^{delta} for a real word y, so p(y) is proportional to
# expm1(delta) s_y, and p(MASK) to 1 - expm1(delta) sum_y s_y: they sum to 1, no normalization
# needed. With LogLinear, e^{sigma_bar(t)} = 1 / (1 - (1 - eps) t), so
#
#     expm1(sigma_bar(t)) = (1 - eps) t / (1 - (1 - eps) t),   sigma(t) = (1 - eps) / (1 - (1 - eps) t),
#     expm1(delta) = e^{sigma_bar(t)} / e^{sigma_bar(t')} - 1 = (1 - eps)(t - t') / (1 - (1 - eps) t),
#
# (t' = t - dt), so dt sigma(t) = expm1(delta) exactly: at a masked position the two steps are
# the same for *any* score. For a normalized score (lesson 04), s_y = pi(y) /
# expm1(sigma_bar(t)), both unmask to y with probability pi(y) (t - t') / t. We check both
# claims on the exact score below; on the uniform graph the two steps differ.

# %%
same_step = {}
for kind in KINDS:
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    exact = ms.ExactScore(graph, sentences)
    t, t_next = 0.6, 0.45
    sb, sb_next = float(noise.total(t)), float(noise.total(t_next))
    x_t = graph.sample_transition(sentences[rng.integers(0, 6, size=64)], sb, rng)   # (64, L)
    s = np.exp(exact.log_score(x_t, np.full(64, sb)))           # (64, L, n), 0 where impossible
    p_tw = ms.tweedie_probs(graph, s, x_t, sb - sb_next)
    p_eu = ms.euler_probs(graph, s, x_t, float(noise.rate(t)) * (t - t_next))
    same_step[kind] = float(np.abs(p_tw - p_eu).max())
    print(f"  {kind:9s} t = {t} -> {t_next}: max |p_Euler - p_Tweedie| = {same_step[kind]:.1e}")
print("Look at: ~1e-16 on the absorbing graph (the same step), clearly not 0 on the uniform one.")

# the denoiser with the exact score is each position's posterior p(x0_i = y | x_t)
den_rng = np.random.default_rng(opt.seed + 1)                   # kept apart from `rng`
denoise_err = {}
for kind in KINDS:
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    exact = ms.ExactScore(graph, sentences)
    sb = float(noise.total(0.3))
    x_t = graph.sample_transition(sentences[den_rng.integers(0, 6, size=64)], sb, den_rng)
    p_den = ms.denoise_probs(exact, x_t, sb)                    # (64, L, n)
    # Bayes by enumeration: p(x0_i = v | x_t) proportional to pi_i(v) P[v, x_i]
    pi = exact.posterior(x_t, np.full(64, sb))                  # (64, L, n_clean)
    P = graph.transition(sb)                                    # (n, n)
    bayes = pi * P[:graph.n_clean].T[x_t]                       # (64, L, n_clean)
    bayes /= bayes.sum(axis=2, keepdims=True)
    denoise_err[kind] = float(np.abs(p_den[..., :graph.n_clean] - bayes).max())
table(["graph", "max |denoiser - p(x0_i | x_t)|, exact score, t = 0.3"],
      [(k, v) for k, v in denoise_err.items()], floatfmt="{:.1e}")

# %% [markdown]
# ## 2. Trained models
#
# The lesson-04 recipe: `ms.ScoreMLP` and `ms.train` with their defaults and 3000 steps, on
# each graph. Retraining takes about 20 s per graph, so this lesson does it instead of loading a
# checkpoint.

# %%
models, train_seconds = {}, {}
for kind in KINDS:
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    models[kind] = ms.ScoreMLP(graph, length=4, rng=opt.seed)
    _, train_seconds[kind] = timed(ms.train, models[kind], sentences, noise, opt.steps,
                                   rng=opt.seed, log_every=0)
    print(f"  {kind:9s} trained in {train_seconds[kind]:.1f} s ({opt.steps} steps)")

# %% [markdown]
# ## 3. Total variation against the number of steps
#
# For steps = 1, 2, 4, ..., we draw N sentences with each sampler, from the exact score and
# from the trained model, and measure TV = 1/2 sum |frequency - 1/6| over the six sentences,
# plus half the fraction of samples that are not training sentences at all. Even perfect
# samples have a TV > 0 from sampling noise alone: the grey band holds 90% of the TVs of N
# draws from the data itself (simulated) and the line is their mean, the floor no sampler can
# beat at this N. Both samplers use the same random numbers at each point, so where their
# steps agree their samples agree.

# %%
steps_grid = 2 ** np.arange(int(np.log2(opt.max_steps)) + 1)    # 1, 2, 4, ..., max_steps
draws = rng.multinomial(opt.num_samples, p_data, size=2000) / opt.num_samples
draw_tv = 0.5 * np.abs(draws - p_data).sum(axis=1)              # (2000,) TV of perfect samples
noise_floor = float(draw_tv.mean())
noise_band = np.quantile(draw_tv, [0.05, 0.95])
print(f"TV to the data distribution against steps ({opt.num_samples} samples each)")
print(f"  sampling-noise floor (TV of {opt.num_samples} draws from the data): mean "
      f"{noise_floor:.4f}, 90% between {noise_band[0]:.4f} and {noise_band[1]:.4f}")
tv, inside, samples = {}, {}, {}
for g_index, kind in enumerate(KINDS):
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    scores = {"exact": ms.ExactScore(graph, sentences), "trained": models[kind]}
    for w_index, (who, score) in enumerate(scores.items()):
        for method in METHODS:
            key = (kind, who, method)
            tv[key], inside[key] = [], []
            for steps in steps_grid:
                # both samplers get the same random numbers, so equal steps give equal samples
                point_rng = np.random.default_rng([opt.seed, g_index, w_index, int(steps)])
                x = ms.sample(score, noise, opt.num_samples, steps=int(steps), method=method,
                              rng=point_rng)                    # (N, L)
                tv[key].append(ms.sample_tv(x, sentences, p_data))
                inside[key].append(ms.empirical(x, sentences)[1])
                samples[key + (int(steps),)] = x
    print(f"  {kind} graph, TV:")
    print(f"    {'steps':22s}" + "".join(f"{int(k):>8d}" for k in steps_grid))
    for who in scores:
        for method in METHODS:
            print(f"    {who + ' score, ' + method:22s}"
                  + "".join(f"{v:8.4f}" for v in tv[(kind, who, method)]))

fig, axes = figure(1, 2, figsize=(11, 4.2), sharey=True)
styles = {("exact", "tweedie"): "C0o-", ("exact", "euler"): "C1s-",
          ("trained", "tweedie"): "C0o--", ("trained", "euler"): "C1s--"}
for ax, kind in zip(axes, KINDS):
    for (who, method), style in styles.items():
        ax.plot(steps_grid, tv[(kind, who, method)], style, ms=8 if method == "tweedie" else 4,
                mfc="none" if who == "trained" else None, label=f"{who} score, {method}")
    ax.axhspan(noise_band[0], noise_band[1], color="0.5", alpha=0.25,
               label=f"TV of {opt.num_samples} perfect samples (90%)")
    ax.axhline(noise_floor, color="0.4", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(min(min(noise_band[0], min(v)) for v in tv.values()) / 1.5, 1.0)   # TV <= 1
    ax.set_xticks(steps_grid)
    ax.set_xticklabels([str(int(k)) for k in steps_grid])
    ax.set_xlabel("sampling steps")
    ax.set_title(f"{kind} graph" + (" (Euler = Tweedie here)" if kind == "absorbing" else ""))
    ax.grid(alpha=0.3, which="both")
axes[0].set_ylabel("TV(samples, data)")
axes[1].legend(fontsize=8)
fig.suptitle("Total variation between samples and the six-sentence data distribution")
show_figure(fig, "05_tv_vs_steps.png", opt, dpi=110)
print("Look at: with the exact score both samplers sit on the noise floor from one step on\n"
      "(section 5 says why). On the absorbing graph Euler and Tweedie drew the very same\n"
      "samples. On the uniform graph the trained model with one Euler step is far off: the\n"
      "step overshoots, is clipped, and leaves near-random words for the final denoiser,\n"
      "which the model never saw at low noise; a few more steps fix it. Elsewhere the\n"
      "trained models stay near the floor.")

# %% [markdown]
# ## 4. The headline
#
# The trained models with 64 Tweedie steps (the point at 64 steps of the dashed blue curves):
# nearly every sample should be one of the six training sentences, and their frequencies close
# to 1/6 each. We expect at least 99% training sentences and TV at most 0.05.

# %%
print(f"Trained models, Tweedie, {opt.max_steps} steps")
headline = {}
for kind in KINDS:
    x = samples[(kind, "trained", "tweedie", opt.max_steps)]
    freq, share_inside = ms.empirical(x, sentences)
    tv_head = ms.sample_tv(x, sentences, p_data)
    headline[kind] = {"inside": share_inside, "tv": tv_head, "freq": freq.tolist(),
                      "num_samples": len(x)}
    print(f"  {kind:9s} {len(x)} samples: {100 * share_inside:.2f}% are training sentences, "
          f"TV = {tv_head:.4f}")
    pairs = [f"{s} {f:.3f}" for s, f in zip(ms.decode(sentences), freq)]
    print("    frequencies (1/6 = 0.167): " + " | ".join(pairs[:3]))
    print("                               " + " | ".join(pairs[3:]))
    print("    first samples:             " + " | ".join(ms.decode(x[:4])))

# %% [markdown]
# ## 5. What this corpus cannot show
#
# In the toy corpus the three positions that vary are independent (subject and object are
# chosen independently), so the data distribution is the product of its per-position
# marginals. One Tweedie step from the limit draws each position from its exact marginal,
# independently, which for this corpus *is* the data distribution: a single step is already
# (nearly) exact, and the curves above cannot show the factorization error that many steps
# remove.
#
# One clipped Euler step on the uniform graph also ends on the floor with the exact score, but
# for a narrower reason, which this corpus hides. The step overshoots and leaves each position
# nearly uniform over all n words. The final denoiser then keeps a word that is plausible in
# its slot (it stays put with probability close to 1) and redraws an implausible one from the
# slot's data marginal p_0. With w plausible words in the slot, a plausible word v ends there
# with probability
#
#     Pr(v) = 1/n + ((n - w)/n) p_0(v)   (landed on v, or on one of the n - w implausible
#                                          words and redrawn as v),
#
# which is p_0(v) exactly when p_0(v) = 1/w: only when the slot's plausible words are equally
# likely. Here they are (I, You, We each 1/3; AI, NLP each 1/2), so one Euler step looks
# exact; the last cell of this lesson gives the words unequal weights. (The trained model's
# one-step Euler miss in the figure has a different cause: the overshoot leaves near-random
# sentences, which it never saw at low noise.)
#
# A two-sentence preview: take the exact score of {"I love AI .", "You love NLP ."}, where
# subject and object depend on each other. One step unmasks both at once, independently, and
# mixes them into "I love NLP ." or "You love AI ." half the time; more steps unmask them one
# at a time and the second word sees the first. Lesson 08 takes this up with a corpus that has
# real dependencies.

# %%
pair = sentences[[0, 3]]                                        # I love AI . / You love NLP .
print(f"Preview: two dependent sentences {ms.decode(pair)}, exact score, Tweedie")
dependence = {}
for kind in KINDS:
    graph, noise = ms.problem(kind, ms.TOY_N_CLEAN)
    exact = ms.ExactScore(graph, pair)
    dependence[kind] = {}
    for steps in sorted({1, 4, 16, opt.max_steps}):
        x = ms.sample(exact, noise, opt.num_samples, steps=steps, method="tweedie", rng=rng)
        dependence[kind][steps] = 1.0 - ms.empirical(x, pair)[1]
    print(f"  {kind:9s} fraction of samples outside the pair: " + ", ".join(
        f"{v:.3f} ({k} step{'s' if k > 1 else ''})" for k, v in dependence[kind].items()))
print("Look at: on the absorbing graph about half the one-step samples mix the two sentences\n"
      "(on the uniform graph about a quarter: the final denoiser sees both words and repairs\n"
      "half of the mixed ones by chance); with many steps almost none are mixed.")

# %% [markdown]
# Unequal weights: the same six sentences, subjects I, You, We with probabilities 0.6, 0.3,
# 0.1 and objects AI, NLP with 0.8, 0.2, chosen independently (the positions are still
# independent), sampled with the exact score on the uniform graph. By the formula above one
# Euler step should miss; Tweedie's step is each position's exact reverse transition and
# should not.

# %%
subject_w, object_w = [0.6, 0.3, 0.1], [0.8, 0.2]            # I/You/We; AI/NLP
p_skew = np.array([subject_w[k // 2] * object_w[k % 2] for k in range(6)])   # rows as sentences
graph, noise = ms.problem("uniform", ms.TOY_N_CLEAN)
exact_skew = ms.ExactScore(graph, sentences, p_skew)
skew_samples = 5 * opt.num_samples                # the exact score samples fast: a finer floor
skew_floor = float(np.mean([0.5 * np.abs(f - p_skew).sum() for f in
                            np.random.default_rng([opt.seed, 5, 0]).multinomial(
                                skew_samples, p_skew, size=500) / skew_samples]))
skew = {}
print(f"Unequal weights, positions still independent: p = {np.round(p_skew, 2).tolist()}")
print(f"  exact score, uniform graph, {skew_samples} samples; TV of as many draws from the "
      f"data: {skew_floor:.4f} on average")
for m_index, method in enumerate(("euler", "tweedie")):
    skew[method] = {}
    for steps in sorted({1, 2, 4, 16, opt.max_steps}):
        x = ms.sample(exact_skew, noise, skew_samples, steps=steps, method=method,
                      rng=np.random.default_rng([opt.seed, 5, 1 + m_index, steps]))
        skew[method][steps] = ms.sample_tv(x, sentences, p_skew)
    print(f"  {method:8s} TV: " + ", ".join(
        f"{v:.4f} ({k} step{'s' if k > 1 else ''})" for k, v in skew[method].items()))
print("Look at: one Euler step is far from the data once the plausible words of a slot are\n"
      "not equally likely, and more steps bring it to the floor; Tweedie is on the floor\n"
      "from one step.")
