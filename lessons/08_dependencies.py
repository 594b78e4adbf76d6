# %% [markdown]
# # Lesson 08: dependencies between positions -- why a reverse process needs many steps
#
# The toy corpus of the earlier lessons has independent positions, so one reverse step was
# enough there. Real sentences are not like that. This lesson uses a corpus whose words depend
# on each other at a distance: the determiner, the noun and the verb agree in number, and the
# verb stands 4 positions after its noun with a distractor noun in between
# ("these dogs near the cat sleep today .").
#
# What you will see:
# - on the absorbing graph, one reverse step unmasks every position at once, independently: it
#   *is* a per-position (factorized) sampler, and it breaks agreement about half the time;
# - more steps repair it: validity (the fraction of samples the grammar accepts) against the
#   number of steps, with the exact score and with a trained ScoreMLP;
# - generalization: a model trained on 80% of the sentences, measured by its likelihood bound
#   on seen and unseen sentences and by how many of its samples are sentences it never saw.
#
# What to expect: with the exact score, one step gives about 43% grammatical samples (the
# per-position sampler's exact rate is 0.4375) and 128 Tweedie steps at least 99%. The trained
# model follows the exact curve; its NELBO on held-out sentences is higher than on train
# sentences but finite, and about 12% of its samples are grammatical sentences it never saw.
#
# Run it as a notebook, or as a script: `python lessons/08_dependencies.py` (`--help` lists
# the options; `MINISEDD_QUICK=1` or `--quick` selects small settings that run in a couple of
# seconds). At full settings it takes about 50 s on a 2-core AMD EPYC server, one lesson at a time.

# %%
import numpy as np

import minisedd as ms
from minisedd.notebook import increasing_steps, figure, options, show_figure, table, timed

STEPS = (1, 2, 4, 8, 16, 32, 64, 128)
opt = options("Lesson 08: dependencies between positions",
              full=dict(num_samples=1000, num_other=400, steps_grid=STEPS, train_steps=3000,
                        hidden=64, batch_size=128, num_train=20000, nelbo_draws=256, seed=0),
              quick=dict(num_samples=100, num_other=50, steps_grid=(1, 16), train_steps=30,
                         hidden=16, batch_size=32, num_train=300, nelbo_draws=16),
              help=dict(num_samples="samples per point of the main curve (exact score, Tweedie)",
                        num_other="samples per point of the other three curves",
                        steps_grid="numbers of reverse steps, increasing",
                        train_steps="Adam steps of the ScoreMLP",
                        hidden="hidden width of the ScoreMLP",
                        batch_size="sentences per training step",
                        num_train="training sentences drawn from the train split",
                        nelbo_draws="Monte Carlo draws per sentence for the NELBO",
                        seed="seeds everything"))
steps_grid = increasing_steps("steps_grid", opt.steps_grid)
MIN_VALID = 0.99          # the lesson's target: exact score, 128 Tweedie steps, >= 99% grammatical
print(opt)

# %% [markdown]
# ## 1. The corpus
# `agreement_corpus()` writes out every sentence of a small grammar with its exact probability:
#
#     DET_a N_a PREP the N V_a ADV .        a = singular (3/4) or plural (1/4)
#
# with DET_sg = {this, that}, DET_pl = {these, those}, N_sg = {cat, dog}, N_pl = {cats, dogs},
# V_sg = {runs, sleeps}, V_pl = {run, sleep}, PREP = {near, behind}, ADV = {today, again}, and N
# (the distractor) any of the four nouns. 256 sentences of 8 words, entropy 5.41 nats. The
# split into train (80%) and held-out (20%) sentences is fixed by a seed.
#
# `corpus.is_grammatical(x)` parses each row (it does not look it up in a list): the word
# classes must be in order and the three words of the subject's number must agree. So
# "these dogs near the cat sleep today ." passes and "these dogs near the cat sleeps today ."
# (the verb agreed with the distractor) fails.
#
# The absorbing graph with the log-linear schedule, `ms.problem("absorbing", corpus.n_clean)`,
# is the setup of this lesson; `ExactScore` is the true score of the corpus.

# %%
rng = np.random.default_rng(opt.seed)
corpus = ms.agreement_corpus()
graph, noise = ms.problem("absorbing", corpus.n_clean)
exact = ms.ExactScore(graph, corpus.sequences, corpus.probs)
print(corpus)
for k in (0, len(corpus.probs) - 1):
    print(f"  {corpus.decode(corpus.sequences[k]):40s} p = {corpus.probs[k]:.6f}")
examples = ["these dogs near the cat sleep today .", "these dogs near the cat sleeps today .",
            "this dogs near the cat sleep today .", "this dog behind the dogs runs again ."]
grammatical_examples = corpus.is_grammatical(np.stack([corpus.encode(s) for s in examples]))
for s, g in zip(examples, grammatical_examples):
    print(f"  is_grammatical({s!r}) = {bool(g)}")
p_heldout = float(corpus.probs[corpus.heldout].sum())
print(f"train: {len(corpus.train)} sentences (probability {1 - p_heldout:.3f}), held out: "
      f"{len(corpus.heldout)} (probability {p_heldout:.3f}); entropy {corpus.entropy:.4f} nats")

# %% [markdown]
# ## 2. What one step amounts to: a per-position sampler
# On the absorbing graph every sentence starts as 8 [MASK]s at t = 1. A single reverse step
# from t = 1 to t ~ 0 unmasks (almost) every position in that one step, each position drawn
# independently from p(x0_i | all masked) -- the marginal distribution of word i in the data.
# So one step is exactly the *factorized* sampler that draws each word from its own marginal.
#
# For this corpus the factorized sampler writes a determiner, a noun and a verb of the right
# classes (every sentence has them at the same places) but picks their numbers independently,
# singular with probability 3/4 each. All three agree when all three are singular or all three
# plural: probability (3/4)^3 + (1/4)^3 = 0.4375. That is the validity of one step (exact up to
# the ~1e-5 chance that a word is left for the final denoising step, which then sees the others).
#
# Below: the marginals marg[i, v] = p(x0_i = v), samples of the factorized sampler, and the same
# probability computed from the marginals (every grammatical sentence is a row of the corpus, so
# P(grammatical) = sum over sentences of prod_i marg[i, x_i]), against one reverse step.

# %%
marg = np.zeros((corpus.length, corpus.n_clean))                  # (L, n_clean): p(x0_i = v)
for i in range(corpus.length):
    np.add.at(marg[i], corpus.sequences[:, i], corpus.probs)
x_fac = ms.sample_categorical(np.broadcast_to(marg, (opt.num_samples,) + marg.shape), rng)
p_factorized = float(marg[np.arange(corpus.length), corpus.sequences].prod(axis=1).sum())
x_one = ms.sample(exact, noise, opt.num_samples, steps=1, rng=rng)      # (num_samples, L)
valid_factorized = float(corpus.is_grammatical(x_fac).mean())
valid_one_step = float(corpus.is_grammatical(x_one).mean())
print(f"per-position sampler: {valid_factorized:.3f} grammatical ({opt.num_samples} samples; "
      f"exact {p_factorized:.4f} = (3/4)^3 + (1/4)^3)")
print(f"exact score, 1 reverse step: {valid_one_step:.3f} grammatical -- the same thing")
broken = x_one[~corpus.is_grammatical(x_one)][:3]
print("one-step samples that break agreement: " + " | ".join(corpus.decode(broken)))

# %% [markdown]
# An aside: on the uniform graph one step does *not* break agreement, so one step there is not
# a per-position sampler. No token is final: the last denoising step reads every word against
# the other seven, and of three words that should agree, the odd one out is rewritten: a
# repair by majority (lesson 05 saw the two-word case, where there is no majority and the
# denoiser repairs half the mixed pairs by chance). This relies on the exact score and on
# three words always having a majority; whether a trained model repairs like this is not
# tested here. On the absorbing graph an unmasked word is never revisited.
#
# Grammatical is not the same as right, though. The majority of three words drawn
# independently, each plural with probability 1/4, is plural with probability
# 3 (1/4)^2 (3/4) + (1/4)^3 = 10/64 = 0.156, not the data's 1/4: one uniform step writes
# sentences that agree, with the wrong share of plurals (a TV of at least 0.094 from the data
# on the number alone). More steps fix that too.

# %%
graph_uniform, noise_uniform = ms.problem("uniform", corpus.n_clean)
x_uni = ms.sample(ms.ExactScore(graph_uniform, corpus.sequences, corpus.probs), noise_uniform,
                  opt.num_other, steps=1, rng=rng)
valid_one_step_uniform = float(corpus.is_grammatical(x_uni).mean())
plural_ids = [corpus.vocab.index(w) for w in ("these", "those")]      # the plural determiners
plural_one_step_uniform = float(np.isin(x_uni[:, 0], plural_ids).mean())
print(f"uniform graph, exact score, 1 step: {valid_one_step_uniform:.3f} grammatical, "
      f"{plural_one_step_uniform:.3f} plural (data 0.25, majority of three 10/64 = 0.156; "
      f"{opt.num_other} samples)")

# %% [markdown]
# ## 3. Validity against the number of steps, with the exact score
# With the exact score the only error left is the sampler's: positions unmasked in the same
# step do not see each other. Midway, at t = 0.5, about half of the words are still masked:

# %%
x0_mid = corpus.sample(200, rng)                                       # (200, L)
x_mid = graph.sample_transition(x0_mid, float(noise.total(0.5)), rng)  # (200, L)
print(f"t = 0.5: {np.mean(x_mid == graph.mask_id):.3f} of the words are [MASK] "
      f"(the schedule says (1 - eps) t = {(1 - noise.eps) * 0.5:.4f})")
for row in corpus.decode(x_mid[:3]):
    print("  " + row)

# %% [markdown]
# Under the log-linear schedule each word is masked with probability (1 - eps) t at time t, so
# going backwards each word is unmasked at a uniformly random time: with k equal steps, in
# each step with probability 1/k, independently. Once one of the three agreeing words is
# unmasked, the exact score draws the others given it, and they agree. So a sentence breaks
# only if the *first* step that unmasks any of the three unmasks two of them (probability
# 3 (k - 1) / (2 k^2)) and they disagree (3/8), or all three (1 / k^2) and they do not all
# agree (1 - 0.4375 = 9/16). Summed: P(broken) = 9 / (16 k) = (1 - 0.4375) / k, exactly, for
# an exact score (up to the tiny share of masks left for the final denoising step at
# t_end = 1e-5); the dotted line in the right panel.
#
# Euler and Tweedie: on the absorbing graph with the log-linear schedule they take exactly the
# same step (lesson 05 measured it: expm1(delta) = dt sigma(t) for this schedule). We draw the two
# curves with independent random numbers, so each confirms the other, up to sampling error: a
# point of 400 samples near 99% has a standard error of about 0.005, and about one point in
# twenty strays by two of those: likely one somewhere on the two curves.

# %%
METHODS = ("tweedie", "euler")


def validity_curve(score, num, method):
    """Fraction of grammatical samples for each number of steps; also the last samples."""
    valid, x = [], None
    for k in steps_grid:
        x = ms.sample(score, noise, num, steps=k, method=method, rng=rng)   # (num, L)
        valid.append(float(corpus.is_grammatical(x).mean()))
    return valid, x


curves, num, last = {}, {}, {}
for method in METHODS:
    key = f"exact/{method}"
    num[key] = opt.num_samples if method == "tweedie" else opt.num_other
    (curves[key], last[key]), seconds = timed(validity_curve, exact, num[key], method)
    print(f"{key} ({num[key]} samples): {seconds:.1f} s")
table(["score/method (samples)"] + [str(k) for k in steps_grid],
      [[f"{key} ({num[key]})"] + curves[key] for key in curves], floatfmt="{:.3f}")
top = curves["exact/tweedie"][-1]
print(f"samples at {steps_grid[-1]} Tweedie steps: "
      + " | ".join(corpus.decode(last["exact/tweedie"][:3])))

# %% [markdown]
# ## 4. A trained model
# A ScoreMLP on the absorbing graph, trained on the train split ONLY: 20000 sentences drawn
# from the train sentences with their probabilities renormalized (`corpus.sample(...,
# split="train")`), so the held-out 20% is never seen. Settings: hidden width 64 (half of the
# default 128: this corpus needs no more, and it halves the time), depth 2, 3000 Adam steps of
# 128 sentences, lr 3e-3 with cosine decay and a weight average (train's defaults). The
# network sees all 8 positions at once, so it can learn that the verb agrees with the noun
# (word 2, index 1) and the determiner (word 1), not with the distractor (word 5).

# %%
data = corpus.sample(opt.num_train, np.random.default_rng(opt.seed), split="train")   # (N, L)
model = ms.ScoreMLP(graph, corpus.length, hidden=opt.hidden, rng=opt.seed)
history, train_seconds = timed(ms.train, model, data, noise, opt.train_steps,
                               batch_size=opt.batch_size, rng=opt.seed, log_every=0)
train_loss = float(history[-min(300, opt.train_steps):].mean())
print(f"ScoreMLP hidden={opt.hidden}, depth=2 ({model.num_params()} parameters), "
      f"{opt.train_steps} steps of {opt.batch_size} on {opt.num_train} draws from the "
      f"{len(corpus.train)} train sentences: {train_seconds:.1f} s, mean loss of the last steps "
      f"{train_loss:.3f} nats")

# %% [markdown]
# Its validity curves, drawn like the exact score's:

# %%
for method in METHODS:
    key = f"model/{method}"
    num[key] = opt.num_other
    (curves[key], last[key]), seconds = timed(validity_curve, model, num[key], method)
    print(f"{key} ({num[key]} samples): {seconds:.1f} s")
table(["score/method (samples)"] + [str(k) for k in steps_grid],
      [[f"{key} ({num[key]})"] + curves[key] for key in curves], floatfmt="{:.3f}")

# %% [markdown]
# The figure. Left: the fraction grammatical against the number of steps; the red dotted line
# is the per-position sampler's 0.4375 and the grey one the lesson's target, 99%. Right: the
# fraction *ungrammatical* on log-log axes, against (1 - 0.4375) / steps (a curve with no broken
# sample is drawn at half a sample).

# %%
fig, (ax1, ax2) = figure(1, 2, figsize=(11.5, 4.4))
styles = {"exact/tweedie": ("k", "-", "o"), "exact/euler": ("0.5", "--", "x"),
          "model/tweedie": ("C0", "-", "s"), "model/euler": ("C1", "--", "^")}
for key, (color, ls, marker) in styles.items():
    v = np.array(curves[key])
    who, method = key.split("/")
    label = f"{'exact score' if who == 'exact' else 'trained ScoreMLP'}, {method} ({num[key]})"
    ax1.plot(steps_grid, v, color=color, ls=ls, marker=marker, ms=5, label=label)
    broken_fraction = np.maximum(1.0 - v, 0.5 / num[key])        # a count of 0 at half a sample
    ax2.plot(steps_grid, broken_fraction, color=color, ls=ls, marker=marker, ms=5, label=label)
ax1.axhline(p_factorized, color="C3", ls=":", lw=1.2)
ax1.text(2.3, p_factorized - 0.035, f"per-position sampler: {p_factorized:.4f}", color="C3",
         fontsize=8)
ax1.axhline(MIN_VALID, color="0.6", ls=":", lw=1)
ax1.text(1.1, MIN_VALID - 0.045, f"{MIN_VALID:.0%}", color="0.4", fontsize=8)
ax1.set(xscale="log", xlabel="reverse steps", ylabel="fraction grammatical",
        ylim=(0.3, 1.02), title="Agreement is repaired by more steps")
ax1.set_xticks(steps_grid, [str(s) for s in steps_grid])
ax1.legend(loc="center right", fontsize=8)
k = np.array(steps_grid, dtype=float)
ax2.plot(k, (1 - p_factorized) / k, color="C3", ls=":", lw=1.2,
         label=f"(1 - {p_factorized:.4f}) / steps")
ax2.set(xscale="log", yscale="log", xlabel="reverse steps", ylabel="fraction ungrammatical",
        title="Broken sentences fall like 1 / steps")
ax2.set_xticks(steps_grid, [str(s) for s in steps_grid])
ax2.legend(loc="lower left", fontsize=8)
show_figure(fig, "08_validity_vs_steps.png", opt)

# %% [markdown]
# ## 5. Generalization
# The model saw only train sentences. Did it learn the grammar, or the list?
#
# *Likelihood.* The NELBO (derived in lesson 04) bounds -log p_model(x). Against it stand two
# references:
# - a model that learned the *grammar* gives every sentence its true probability p(x): its
#   NELBO is -log p(x) on train and held-out sentences alike;
# - a model that memorized the *list* gives each train sentence p(x) / P(train) and each
#   held-out sentence 0: -log p(x) + log P(train) on train, infinity on held-out.
#
# We estimate the NELBO by Monte Carlo (`method="mc"`: a noise level and a masked sentence per
# draw; `nelbo` returns the bound and its standard error per sentence), average it over each
# split with the sentences' probabilities, and combine the standard errors. `method="exact"`
# enumerates the 2^8 masks of each sentence at 72 quadrature nodes: it took 35 s for the 256
# sentences (against a few seconds for Monte Carlo) and gave 5.374 (train) and 5.796 (held out)
# for this model, within two standard errors of Monte Carlo. (Lesson 10 shows that on the
# absorbing graph this Monte Carlo estimate has infinite variance, a rare draw at a small noise
# level being very large, so its printed standard error can understate; it derives one that
# draws the number of masked positions first. Here the exact values are the check.) The train
# value is *below* the true -log p(x) (5.416): no contradiction, as the NELBO bounds
# -log p_model, not -log p_data, and a model that moves probability from held-out to train
# sentences scores the train sentences better than the data distribution does (the
# memorizer's value is the floor).

# %%
generalization = {}
for split in ("train", "heldout"):
    rows = corpus.split_indices(split)
    w = corpus.split_probs(split)                                 # (len(rows),), sums to 1
    (bound, stderr), seconds = timed(ms.nelbo, model, noise, corpus.sequences[rows],
                                     method="mc", num_samples=opt.nelbo_draws, rng=rng)
    generalization[split] = {"nelbo": float(w @ bound), "se": float(np.sqrt(w ** 2 @ stderr ** 2)),
                             "neg_log_p": float(w @ -np.log(corpus.probs[rows]))}
    g = generalization[split]
    print(f"{split:8s} NELBO {g['nelbo']:.3f} +- {g['se']:.3f} nats   exact -log p "
          f"{g['neg_log_p']:.3f}   (gap {g['nelbo'] - g['neg_log_p']:+.3f}; {seconds:.1f} s)")
log_p_train = float(np.log(1.0 - p_heldout))                      # log P(train) < 0
print(f"a memorizer of the train list: {generalization['train']['neg_log_p'] + log_p_train:.3f} "
      f"on train, infinite on held-out")

# %% [markdown]
# *Samples.* A model that learned the grammar puts P(held-out) of its samples on held-out
# sentences: grammatical, but never seen. A memorizer puts none there. We sort the model's
# samples at the largest number of Tweedie steps into train sentences, held-out sentences and
# the rest.

# %%
x_model = last["model/tweedie"]
idx = corpus.index_of(x_model)                                    # (N,), -1: not a sentence
composition = {"train": float(np.isin(idx, corpus.train).mean()),
               "heldout": float(np.isin(idx, corpus.heldout).mean())}
composition["ungrammatical"] = 1.0 - composition["train"] - composition["heldout"]
table(["samples", "train sentences", "held out (never seen)", "ungrammatical"],
      [["data", 1 - p_heldout, p_heldout, 0.0],
       [f"trained model ({num['model/tweedie']}, {steps_grid[-1]} Tweedie steps)",
        composition["train"], composition["heldout"], composition["ungrammatical"]],
       ["memorizer (in theory)", 1.0, 0.0, 0.0]], floatfmt="{:.1%}")
unseen = x_model[np.isin(idx, corpus.heldout)][:3]
print("unseen sentences the model wrote: " + " | ".join(corpus.decode(unseen)))

# %% [markdown]
# The figure. Left: the model's NELBO (dots, +- 2 standard errors) against -log p (black: what a
# model that learned the grammar scores) and a memorizer's score on train (red dashed). Right:
# what the samples are, for the data, the model and a memorizer.

# %%
fig, (ax1, ax2) = figure(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.25]})
gen = generalization
splits = ("train", "heldout")
xs = np.arange(2)
ax1.errorbar(xs, [gen[s]["nelbo"] for s in splits], yerr=[2 * gen[s]["se"] for s in splits],
             fmt="o", color="C0", ms=8, capsize=8, lw=2, label="model NELBO (+- 2 s.e.)")
for x, s in zip(xs, splits):
    ax1.hlines(gen[s]["neg_log_p"], x - 0.3, x + 0.3, color="k", lw=2,
               label="learned the grammar: -log p" if s == "train" else None)
ax1.hlines(gen["train"]["neg_log_p"] + log_p_train, -0.3, 0.3, color="C3", lw=2, ls="--",
           label="memorized the list (held out: infinite)")
ax1.set_xticks(xs, ["train sentences", "held-out sentences"])
ax1.set_xlim(-0.6, 1.6)
lo = min(gen["train"]["neg_log_p"] + log_p_train, gen["train"]["nelbo"]) - 0.25
ax1.set(ylim=(lo, max(gen[s]["nelbo"] + 2 * gen[s]["se"] for s in splits) + 0.35),
        ylabel="nats per sentence", title="Likelihood bound, seen vs unseen")
ax1.legend(loc="upper left", fontsize=8)
bars = {"data": {"train": 1 - p_heldout, "heldout": p_heldout, "ungrammatical": 0.0},
        "trained model": composition,
        "memorizer (in theory)": {"train": 1.0, "heldout": 0.0, "ungrammatical": 0.0}}
left = np.zeros(len(bars))
colors = {"train": "C0", "heldout": "C1", "ungrammatical": "C3"}
names = {"train": "train sentences", "heldout": "held out: grammatical, never seen",
         "ungrammatical": "ungrammatical"}
for part in ("train", "heldout", "ungrammatical"):
    vals = np.array([r[part] for r in bars.values()])
    ax2.barh(np.arange(len(bars)), vals, 0.6, left=left, color=colors[part], label=names[part])
    for y, (v, l0) in enumerate(zip(vals, left)):
        if v > 0.04:
            ax2.text(l0 + v / 2, y, f"{v:.1%}", ha="center", va="center", fontsize=9,
                     color="white")
    left += vals
ax2.set_yticks(np.arange(len(bars)), list(bars))
ax2.set_ylim(len(bars) - 0.5, -1.3)                                # room for the legend on top
ax2.set(xlim=(0, 1), xlabel=f"fraction of samples (model: {steps_grid[-1]} Tweedie steps)",
        title="What the samples are")
ax2.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
show_figure(fig, "08_generalization.png", opt)

# %% [markdown]
# ## 6. Verdict
# The lesson's target: with the exact score, 128 Tweedie steps give at least 99% grammatical
# samples, while one step stays near the per-position sampler's 0.4375.

# %%
passed = top >= MIN_VALID and valid_one_step < MIN_VALID - 0.2
print(f"Verdict: exact score, {steps_grid[-1]} Tweedie steps: {top:.1%} grammatical (must be "
      f">= {MIN_VALID:.0%}); 1 step: {valid_one_step:.1%} (the per-position sampler's "
      f"{p_factorized:.1%}): {'PASS' if passed else 'FAIL'}")
