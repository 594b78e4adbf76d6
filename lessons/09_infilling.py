# %% [markdown]
# # Lesson 09: infilling -- conditional generation by holding the given words fixed
#
# `ms.sample(..., condition=c)` draws sentences with some words given: c holds a token id at
# each given position and -1 at each free one; the sampler starts from the limit with the
# given tokens already in place, puts them back after every step (the final denoising step
# included), and so only ever changes the free positions. (The SEDD paper's prompting and
# infilling hold the given tokens fixed in the same way; this lesson shows when that is exact.)
#
# What you will see, on the agreement corpus of lesson 08:
# - three conditions -- a prefix, a suffix and the middle given -- and the exact conditional
#   distribution of each; the total-variation distance (TV) between many conditional samples
#   and that exact distribution says whether the sampler got it right;
# - why holding tokens fixed is exact on the absorbing graph and only an approximation on the
#   uniform graph: the likelihood ratio 1 + n / expm1(sigma_bar) that a given word carries,
#   derived and tabulated, and a control experiment that isolates the cause;
# - a trained model's infills.
#
# What to expect: absorbing graph, exact score: TV about 0.01-0.02 for each of the three
# conditions (the lesson's target: at most 0.05), at the level of the sampling noise of 4000
# draws, and every infill grammatical. Uniform graph, exact score, same clamping: the prefix is
# as good, but the suffix and middle give TV ~0.25 -- a quarter of the infills break agreement
# with the given word -- while the control is back at ~0.02. The trained model's infills are
# ~99% grammatical with TV ~0.03-0.09 (1000 draws each).
#
# Run it as a notebook, or as a script: `python lessons/09_infilling.py` (`--help` lists the
# options; `MINISEDD_QUICK=1` or `--quick` selects small settings that run in a couple of
# seconds). At full settings it takes about 45 s on a 2-core AMD EPYC server, one lesson at a time.

# %%
import numpy as np

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table, timed

opt = options("Lesson 09: infilling",
              full=dict(num_samples=4000, num_uniform=1500, num_model=1000, steps=128,
                        train_steps=3000, seed=0),
              quick=dict(num_samples=200, num_uniform=100, num_model=20, steps=8,
                         train_steps=20),
              help=dict(num_samples="infills per condition, absorbing graph, exact score",
                        num_uniform="infills per condition on the uniform graph, in its control "
                                    "and with the number left open",
                        num_model="infills per condition from a trained model (0: skip it)",
                        steps="reverse steps", train_steps="Adam steps of the trained model",
                        seed="seeds everything"))
MAX_TV = 0.05             # the lesson's target: absorbing graph, exact score, every condition
print(opt)

# %% [markdown]
# ## 1. Three conditions and their exact answers
# Each condition fixes some words and leaves blanks ("_"). The words the blanks may take are
# constrained at a distance: in the prefix "these dogs near the cat _ _ _" the verb must be
# plural (agreeing with "dogs", 4 words back, not with the neighbouring "cat"); in the suffix
# "_ _ behind the cat sleep today ." the plural "sleep" forces a plural determiner and noun,
# although plural subjects are rarer (1/4) in the corpus; in the middle "_ dogs near the cat _
# _ _" the determiner before and the verb after must both agree with "dogs".
#
# Since the corpus lists every sentence with its probability, the exact conditional
# distribution is a filter: keep the sentences that carry the given words, renormalize.
#
# How close can samples get? Even exact draws from the conditional have a TV above 0: the
# "sampling noise alone" column averages the TV of 20 sets of exact draws of the same size.

# %%
CONDITIONS = {                    # "_" marks a free position
    "prefix": "these dogs near the cat _ _ _",
    "suffix": "_ _ behind the cat sleep today .",
    "middle": "_ dogs near the cat _ _ _",
}
rng = np.random.default_rng(opt.seed)
corpus = ms.agreement_corpus()


def exact_conditional(condition):
    """The sentences matching condition (L,) (-1 = free) and their conditional probabilities."""
    match = ((corpus.sequences == condition) | (condition < 0)).all(axis=1)     # (M,)
    return corpus.sequences[match], corpus.probs[match] / corpus.probs[match].sum()


def free_words(x, condition):
    """The words at the free positions of each row of x, for labels."""
    free = np.flatnonzero(condition < 0)
    return [" ".join(corpus.vocab[t] for t in row[free]) for row in np.atleast_2d(x)]


def sampling_noise_tv(support, probs, num, rng):
    """The mean TV to probs of 20 sets of num exact draws from it: the floor of a sampler's TV."""
    return float(np.mean([ms.sample_tv(support[rng.choice(len(probs), size=num, p=probs)],
                                       support, probs) for _ in range(20)]))


noise_floor = {}
for name, text in CONDITIONS.items():
    c = corpus.condition(text)                                    # (L,), -1 at the blanks
    support, probs = exact_conditional(c)
    noise_floor[name] = sampling_noise_tv(support, probs, opt.num_samples, rng)
    print(f"{name:6s} {text!r:38s} condition {c.tolist()}")
    print(f"       {len(probs)} ways to fill the blanks: " + ", ".join(
        f"{w} {p:.3f}" for w, p in zip(free_words(support, c), probs)))
table(["condition", f"sampling noise alone: TV of {opt.num_samples} exact draws"],
      [[name, v] for name, v in noise_floor.items()])

# %% [markdown]
# ## 2. Absorbing graph: holding tokens fixed is exact
# On the absorbing graph a token that is not [MASK] at time t IS the clean token x0: the
# forward process only ever replaces tokens by [MASK]. Consider the forward process that
# noises only the free positions of the conditional distribution p(x | c). Its reverse rate at
# a masked free position i towards a word y is sigma(t) e^{-sigma_bar} / (1 - e^{-sigma_bar})
# p(x0_i = y | the unmasked words): it depends only on which words are unmasked and what they
# are. That is exactly the unconditional score at the clamped state (lesson 04: s_y =
# pi_i(y) / expm1(sigma_bar), pi_i the posterior given the unmasked words). Clamping adds
# nothing false, so the sampler draws from
# the exact conditional distribution, up to the same per-step factorization error as in
# lesson 08 (with 128 steps, well under 1%).
#
# `infill` below draws the samples for each condition and measures them: the TV to the exact
# conditional, the fraction grammatical, and whether the given words were held.

# %%
def infill(score, noise, num, steps, conditions=CONDITIONS):
    """Conditional samples for each condition, with TV to the exact conditional."""
    out = {}
    for name, text in conditions.items():
        c = corpus.condition(text)                                # (L,), -1 at the blanks
        support, probs = exact_conditional(c)
        x = ms.sample(score, noise, num, steps=steps, condition=c, rng=rng)     # (num, L)
        freq, inside = ms.empirical(x, support)
        out[name] = {"condition": c, "support": support, "probs": probs, "samples": x,
                     "freq": freq, "inside": inside, "tv": ms.sample_tv(x, support, probs),
                     "valid": float(corpus.is_grammatical(x).mean()),
                     "held": bool((x[:, c >= 0] == c[c >= 0]).all()),
                     "unseen": np.isin(corpus.index_of(support), corpus.heldout)}
    return out


def report(results, floors=None):
    header = ["condition", "TV", "grammatical", "given words held"]
    rows = [[name, r["tv"], f"{r['valid']:.1%}", str(r["held"])] for name, r in results.items()]
    if floors:
        header.append("sampling noise alone")
        rows = [row + [floors[row[0]]] for row in rows]
    table(header, rows)


graph_a, noise_a = ms.problem("absorbing", corpus.n_clean)
exact_a = ms.ExactScore(graph_a, corpus.sequences, corpus.probs)
absorbing, seconds = timed(infill, exact_a, noise_a, opt.num_samples, opt.steps)
print(f"absorbing graph, exact score: {opt.num_samples} infills each, {opt.steps} steps "
      f"({seconds:.1f} s)")
report(absorbing, noise_floor)
for name, r in absorbing.items():
    print(f"  {name:6s} " + " | ".join(corpus.decode(r["samples"][:3])))

# %% [markdown]
# Do infills need many steps? In the three conditions above a given word fixes the number, and
# then the blanks no longer depend on each other: a per-position sampler -- one step -- is
# already exact for them.

# %%
one_step = infill(exact_a, noise_a, opt.num_samples, 1)
print("with ONE step (given the number, the blanks are independent):")
report(one_step, noise_floor)

# %% [markdown]
# With the number left open, as in "_ _ near the cat _ _ _", the blank determiner, noun and
# verb must agree with *each other*, and one step breaks them exactly as in lesson 08.

# %%
BLANKS_AGREE = {"blanks agree": "_ _ near the cat _ _ _"}
blanks_agree = {k: infill(exact_a, noise_a, opt.num_uniform, k, BLANKS_AGREE)["blanks agree"]
                for k in (1, opt.steps)}
c_open = corpus.condition(BLANKS_AGREE["blanks agree"])
support_open, probs_open = exact_conditional(c_open)
floor_rng = np.random.default_rng(opt.seed + 1)       # not rng: the later draws stay the same
floor_open = sampling_noise_tv(support_open, probs_open, opt.num_uniform, floor_rng)
print(f"number left open, {BLANKS_AGREE['blanks agree']!r} ({opt.num_uniform} infills; "
      f"{len(probs_open)} completions, sampling noise alone: TV {floor_open:.3f}):")
table(["steps", "TV", "grammatical"],
      [[k, r["tv"], f"{r['valid']:.1%}"] for k, r in blanks_agree.items()])

# %% [markdown]
# At full settings, 128 steps leave a TV of 0.067 here, above the 0.05 of the other conditions:
# with 32 completions, 1500 exact draws alone give about 0.053, and 0.5% of the infills are
# ungrammatical.
#
# ## 3. Uniform graph: holding tokens fixed is only an approximation
# On the uniform graph a word does not tell you that it is clean. How much does an observed
# word w say about x0? Take the uniform kernel (derived in lesson 01),
#
#     P = e^{-sigma_bar} I + (1 - e^{-sigma_bar}) 11^T / n,
#
# and compare the probability of seeing w under two hypotheses about the clean word:
#
#     p(x_t = w | x0 = w) = e^{-sigma_bar} + (1 - e^{-sigma_bar}) / n
#     p(x_t = w | x0 = v) = (1 - e^{-sigma_bar}) / n          for any v != w.
#
# Their quotient is the likelihood ratio of the observation:
#
#     ratio = 1 + n e^{-sigma_bar} / (1 - e^{-sigma_bar}) = 1 + n / (e^{sigma_bar} - 1)
#           = 1 + n / expm1(sigma_bar).
#
# By Bayes' rule the posterior odds of x0 = w against x0 = v are the prior odds (from the rest
# of the sentence and the data) times this ratio. So the observed word is strong evidence only
# when the ratio is large: at t = 1 (sigma_bar = 20 with the geometric schedule) it is 1 -- the
# word says nothing at all -- and it grows as t falls. On the absorbing graph
# p(x_t = w | x0 = v) = 0 for v != w (a word is only ever replaced by [MASK]), so the ratio is
# infinite at every t: an unmasked word is x0. (expm1 keeps the ratio exact at small sigma_bar,
# where e^{sigma_bar} - 1 would lose digits.)
#
# The unconditional score cannot know which words were clamped: it reads every observed word
# through this ratio. Here is the ratio along the sampler's run, n = 19 clean tokens:

# %%
graph_u, noise_u = ms.problem("uniform", corpus.n_clean)


def evidence_ratio(t):
    """How much the uniform-graph score favours x0 = x_t for an observed word: 1 + n / expm1(sb)."""
    return 1.0 + graph_u.n / np.expm1(noise_u.total(t))


T_SHOWN = (1.0, 0.8, 0.6, 0.4, 0.2)
table(["t", "sigma_bar(t)", "likelihood ratio of a clamped word"],
      [[t, f"{float(noise_u.total(t)):.4f}", f"{float(evidence_ratio(t)):.1f}"] for t in T_SHOWN],
      floatfmt="{:.1f}")

# %% [markdown]
# Clamping keeps the given words clean at every t, but the unconditional score still reads them
# as noisy observations, weighted by this ratio. So while the noise
# is high the given words count for little, and the free words are drawn mostly from the data's
# marginals: singular 3/4 of the time. Free words that settle on the same number then back each
# other, and the uniform graph's last, low-noise steps rewrite a word only when the others
# outvote it. In the suffix (free determiner and noun) and middle (free determiner and verb)
# conditions two free words stand against one given word, and when they settled on the wrong
# number they win: the sentence ends ungrammatical. In the prefix, two given words ("these
# dogs") outvote the one free verb.

# %%
exact_u = ms.ExactScore(graph_u, corpus.sequences, corpus.probs)
uniform, seconds = timed(infill, exact_u, noise_u, opt.num_uniform, opt.steps)
print(f"uniform graph, exact score, clamped: {opt.num_uniform} infills each (fewer: every row is "
      f"distinct here and the exact score costs more), {opt.steps} steps ({seconds:.1f} s)")
report(uniform)
print("infills that break agreement with the given words:")
for name, r in uniform.items():
    bad = r["samples"][~corpus.is_grammatical(r["samples"])][:2]
    if len(bad):
        print(f"  {name:6s} " + " | ".join(corpus.decode(bad)))

# %% [markdown]
# The control: run the same clamped sampler with the exact score of the *conditional*
# distribution (ExactScore on the matching sentences only). Then the evidence the score reads
# and the clamping agree, and the TV should fall to the noise floor: the gap is clamping's, not
# the uniform graph's or the sampler's. (A correct conditional sampler for the uniform graph
# needs the conditional score; an unconditional score with clamping is an approximation that is
# good when the given words agree with what the data would have put there anyway.) A contrast
# makes the last point: the same suffix with a singular verb, "_ _ behind the cats sleeps
# today .", should rarely break, because there the marginals already pull the free words the
# right way.

# %%
control = {}
for name, text in CONDITIONS.items():
    support, probs = exact_conditional(corpus.condition(text))
    cond_score = ms.ExactScore(graph_u, support, probs)            # the conditional's own score
    control[name] = infill(cond_score, noise_u, opt.num_uniform, opt.steps, {name: text})[name]
print("control: the exact score of each conditional, same clamped sampler:")
report(control)
CONTRAST = {"suffix, singular verb": "_ _ behind the cats sleeps today ."}
contrast = infill(exact_u, noise_u, opt.num_uniform, opt.steps, CONTRAST)
r = contrast["suffix, singular verb"]
print(f"uniform, unconditional exact score, {CONTRAST['suffix, singular verb']!r}: "
      f"TV {r['tv']:.4f}, grammatical {r['valid']:.1%}")

# %% [markdown]
# ## 4. A trained model's infills
# The ScoreMLP of lesson 08 (absorbing graph, hidden 64, 3000 Adam steps of 128 sentences drawn
# from the train split only), retrained here with the same seeds. Its infills are drawn with
# the same clamping; their TV to the exact conditional includes what the model has not learned
# -- among it the held-out sentences it never saw.

# %%
model_results = None
if opt.num_model:
    data = corpus.sample(20000, np.random.default_rng(opt.seed), split="train")   # (N, L)
    model = ms.ScoreMLP(graph_a, corpus.length, hidden=64, rng=opt.seed)
    _, seconds = timed(ms.train, model, data, noise_a, opt.train_steps, batch_size=128,
                       rng=opt.seed, log_every=0)
    print(f"ScoreMLP hidden=64, {opt.train_steps} steps of 128 on the train split: {seconds:.1f} s")
    model_results = infill(model, noise_a, opt.num_model, opt.steps)
    print(f"trained model, absorbing graph: {opt.num_model} infills each, {opt.steps} steps")
    report(model_results)
    for name, r in model_results.items():
        u = r["unseen"]
        print(f"  {name:6s} {u.sum()} of the {len(u)} completions are held-out sentences: exact "
              f"probability {r['probs'][u].sum():.3f}, model frequency {r['freq'][u].sum():.3f}")
    for name, r in model_results.items():
        print(f"  {name:6s} " + " | ".join(corpus.decode(r["samples"][:2])))

# %% [markdown]
# ## 5. The figure
# One panel per condition: the exact conditional probability of each way to fill the blanks
# (grey), and the frequencies of the infills on the absorbing graph, on the uniform graph and
# from the trained model; the last row of each panel is the fraction of infills that are not
# sentences at all. The fourth panel is the likelihood ratio of section 3 along the sampler's
# run, with the five values printed there as dots; the dotted line at 1 is "no evidence".

# %%
fig, axes = figure(3, 2, figsize=(12, 8.7), gridspec_kw={"height_ratios": [0.01, 1, 1]})
for ax in axes[0]:
    ax.remove()
legend_ax = fig.add_subplot(axes[0, 0].get_gridspec()[0, :])      # a top row for the legend
legend_ax.axis("off")
rows = [("exact conditional", "0.6", None), ("absorbing, exact score", "C0", absorbing),
        ("uniform, exact score (clamped)", "C3", uniform)]
if model_results is not None:
    rows.append(("absorbing, trained model", "C2", model_results))
h = 0.8 / len(rows)                                                # bar height
for ax, name in zip(axes[1:].flat, CONDITIONS):
    a = absorbing[name]
    labels = free_words(a["support"], a["condition"]) + ["(not a sentence)"]
    y = np.arange(len(labels))
    for k, (label, color, res) in enumerate(rows):
        vals = (np.append(a["probs"], 0.0) if res is None
                else np.append(res[name]["freq"], 1 - res[name]["inside"]))
        ax.barh(y - 0.4 + (k + 0.5) * h, vals, h, color=color, label=label)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    tvs = ", ".join(f"{'model' if res is model_results else label.split(',')[0]} "
                    f"{res[name]['tv']:.3f}" for label, _, res in rows[1:])
    ax.set(xlabel="probability / frequency", title=f"{name}: \"{CONDITIONS[name]}\"\nTV: {tvs}")
    ax.title.set_fontsize(10)
handles, labels = axes[1, 0].get_legend_handles_labels()
legend_ax.legend(handles, labels, loc="center", ncol=len(rows), fontsize=9, frameon=False)
ax = axes[2, 1]
t = np.linspace(0.0, 1.0, 201)
ax.plot(t, evidence_ratio(t), color="C3", label="uniform graph: 1 + n / expm1(sigma_bar(t))")
ax.plot(T_SHOWN, evidence_ratio(np.array(T_SHOWN)), "o", color="C3", ms=5,
        label="the values printed in section 3")
ax.axhline(1.0, color="0.6", ls=":", lw=1, label="1: the word says nothing about x0")
ax.invert_xaxis()                                                  # the sampler's direction
ax.set(yscale="log", ylim=(0.5, None),
       xlabel="t (the sampler runs from t = 1, left, to t = 0, right)",
       ylabel="likelihood ratio for x0 = the observed word",
       title="How much a clamped word counts as evidence of x0")
ax.title.set_fontsize(10)
ax.text(0.95, 3e3, "absorbing graph: infinite at every t\n(an unmasked word is x0)",
        color="C0", fontsize=9)
ax.legend(fontsize=8, loc="upper left")
show_figure(fig, "09_infilling.png", opt)

# %% [markdown]
# ## 6. Verdict
# The lesson's target: on the absorbing graph with the exact score, clamping gives the exact
# conditional distribution, so the TV of every condition must be at most 0.05.

# %%
worst = max(r["tv"] for r in absorbing.values())
passed = worst <= MAX_TV
table(["TV to the exact conditional"] + list(CONDITIONS),
      [[f"absorbing graph, exact score ({opt.num_samples})"] + [absorbing[k]["tv"] for k in CONDITIONS],
       [f"uniform graph, exact score, clamped ({opt.num_uniform})"]
       + [uniform[k]["tv"] for k in CONDITIONS],
       [f"control: the conditional's own score ({opt.num_uniform})"]
       + [control[k]["tv"] for k in CONDITIONS]])
print(f"Verdict: absorbing graph, exact score, largest TV over the three conditions {worst:.4f} "
      f"(must be <= {MAX_TV}): {'PASS' if passed else 'FAIL'}")
