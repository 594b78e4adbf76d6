"""Lesson 08: dependencies between positions -- why a reverse process needs many steps.

What it teaches
    * A corpus whose positions depend on each other (minisedd.agreement_corpus): the
      determiner, the noun and the verb agree in number, and the verb sits 4 positions after
      its noun with a distractor noun in between ("these dogs near the cat sleep today .").
    * One reverse step unmasks every position at once, independently: it IS a per-position
      (factorized) sampler, and it breaks agreement. More steps unmask fewer positions at a
      time, each one seeing the words already there, and repair it. Validity (the fraction of
      samples the grammar accepts) against the number of steps, Tweedie and Euler, with the
      exact score and with a trained ScoreMLP (figures/08_validity_vs_steps.png).
    * Generalization: a model trained on the train split only, measured by its likelihood
      bound (NELBO) on train and held-out sentences against the exact -log p, and by how many
      of its samples are grammatical sentences it never saw (figures/08_generalization.png).

Run
    python lessons/08_dependencies.py            (about 40 s on 2 CPU cores)
    python lessons/08_dependencies.py --help

What to expect
    Exact score: one step gives ~43% grammatical samples -- the per-position sampler's exact
    rate (3/4)^3 + (1/4)^3 = 0.4375 -- and 128 Tweedie steps at least 99% (99.6%). The
    ungrammatical fraction falls roughly like 1 / steps. The trained model (hidden 64, 3000
    steps) follows the exact curve to ~99%. Its NELBO on train sentences is close to -log p; on
    held-out sentences it is 0.3-0.4 nats higher but finite, and about 12% of its samples are
    grammatical sentences held out of training (the data puts 20% there, a memorizer 0%).
"""
# %%
import argparse
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minisedd as ms  # noqa: E402
from minisedd.graphs import sample_categorical  # noqa: E402
from minisedd.sampling import euler_probs, tweedie_probs  # noqa: E402

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
STEPS = (1, 2, 4, 8, 16, 32, 64, 128)
METHODS = ("tweedie", "euler")
MIN_VALID = 0.99          # the threshold: exact score, 128 Tweedie steps

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

# %%
def show_corpus(corpus, show=print):
    show(f"== 1. The corpus: {corpus} ==")
    for k in (0, len(corpus.probs) - 1):
        show(f"  {corpus.decode(corpus.sequences[k]):40s} p = {corpus.probs[k]:.6f}")
    tests = ["these dogs near the cat sleep today .", "these dogs near the cat sleeps today .",
             "this dogs near the cat sleep today .", "this dog behind the dogs runs again ."]
    ok = corpus.is_grammatical(np.stack([corpus.encode(s) for s in tests]))
    for s, g in zip(tests, ok):
        show(f"  is_grammatical({s!r}) = {bool(g)}")
    p_heldout = corpus.probs[corpus.heldout].sum()
    show(f"  train: {len(corpus.train)} sentences (probability {1 - p_heldout:.3f}), held out: "
         f"{len(corpus.heldout)} (probability {p_heldout:.3f}); entropy {corpus.entropy:.4f} nats")
    return {"is_grammatical_examples": ok.tolist(), "p_heldout": float(p_heldout)}


# %% [markdown]
# ## 2. What one step amounts to: a per-position sampler
# On the absorbing graph every sentence starts as 8 [MASK]s at t = 1. A single reverse step
# from t = 1 to t ~ 0 unmasks (almost) every position in that one step, each position drawn
# independently from p(x0_i | all masked) -- the marginal distribution of word i in the data.
# So one step is exactly the *factorized* sampler that draws each word from its own marginal.
#
# For this corpus the factorized sampler writes a determiner, a noun and a verb of the right
# classes (every sentence has them at the same places) but picks their numbers independently,
# singular with probability 3/4 each. All three agree with probability
# (3/4)^3 + (1/4)^3 = 0.4375: the validity of one step (exact up to the ~1e-5 chance that a
# word is left for the final denoising step, which then sees the others).

# %%
def factorized(corpus, num, rng):
    """Each position drawn from its data marginal, independently.

    Returns (samples (num, L), exact probability that such a sample is grammatical).
    """
    K = len(corpus.vocab) - 1                                      # clean tokens
    marg = np.zeros((corpus.length, K))                           # (L, K): p(x0_i = v)
    for i in range(corpus.length):
        np.add.at(marg[i], corpus.sequences[:, i], corpus.probs)
    x = sample_categorical(np.broadcast_to(marg, (num,) + marg.shape), rng)   # (num, L)
    # every grammatical sentence is a row of corpus.sequences (tests/test_corpus.py checks it),
    # so P(grammatical) = sum over sentences of prod_i marg[i, x_i]
    p_valid = marg[np.arange(corpus.length), corpus.sequences].prod(axis=1).sum()
    return x, float(p_valid)


# %% [markdown]
# ## 3. Validity against the number of steps, with the exact score
# `ExactScore(graph, corpus.sequences, corpus.probs)` is the true score of the corpus, so the
# only error left is the sampler's: positions unmasked in the same step do not see each other.
# Under the log-linear schedule each word is unmasked at a uniformly random time, so with k
# equal steps two given words are unmasked in the same step with probability 1/k, and the
# fraction of broken sentences falls roughly like 1/k.
#
# Euler and Tweedie: on the absorbing graph with the log-linear schedule they take the same
# step (lesson 05): Euler unmasks with probability dt sigma(t) s_y and Tweedie with
# expm1(delta) s_y, and for LogLinear expm1(delta) = dt sigma(t) exactly. We check it on the
# corpus, then draw the two curves with independent random numbers, so each confirms the other.

# %%
def same_step(exact, noise, corpus, rng):
    """Largest |p_tweedie - p_euler| over one step from half-masked sentences at t = 0.5."""
    graph = exact.graph
    x0 = corpus.sample(200, rng)
    x_t = graph.sample_transition(x0, float(noise.total(0.5)), rng)         # (200, L)
    t, dt = 0.5, 1.0 / 128
    sb, sb_next = float(noise.total(t)), float(noise.total(t - dt))
    s = np.exp(exact.log_score(x_t, np.full(len(x_t), sb)))              # (200, L, n)
    p_tw = tweedie_probs(graph, s, x_t, sb - sb_next)
    p_eu = euler_probs(graph, s, x_t, float(noise.rate(t)) * dt)
    return float(np.abs(p_tw - p_eu).max())


def validity_curve(score, noise, corpus, num, method, rng, steps_grid=STEPS):
    """Fraction of grammatical samples for each number of steps; also the last samples."""
    valid, x = [], None
    for k in steps_grid:
        x = ms.sample(score, noise, num, steps=k, method=method, rng=rng)
        valid.append(float(corpus.is_grammatical(x).mean()))
    return valid, x


# %% [markdown]
# ## 4. A trained model
# A ScoreMLP on the absorbing graph, trained on the train split ONLY: 20000 sentences drawn
# from the train sentences with their probabilities renormalized (corpus.sample(...,
# split="train")), so the held-out 20% is never seen. Settings: hidden width 64 (half of the
# default 128: this corpus needs no more, and it halves the time), depth 2, 3000 Adam steps of
# 128 sentences, lr 3e-3 with cosine decay and a weight average (train's defaults). The
# network sees all 8 positions at once, so it can learn that the verb agrees with word 2.

# %%
def train_model(corpus, graph, noise, train_steps, hidden, batch_size, num_train, seed, show):
    data = corpus.sample(num_train, np.random.default_rng(seed), split="train")   # (N, L)
    model = ms.ScoreMLP(graph, corpus.length, hidden=hidden, seed=seed)
    start = time.perf_counter()
    history = ms.train(model, data, noise, train_steps, batch_size=batch_size, seed=seed,
                       log_every=0)
    seconds = time.perf_counter() - start
    last = float(history[-min(300, train_steps):].mean())
    show(f"  ScoreMLP hidden={hidden}, depth=2 ({model.num_params()} parameters), {train_steps} "
         f"steps of {batch_size} on {num_train} draws from the {len(corpus.train)} train "
         f"sentences: {seconds:.1f} s, mean loss of the last steps {last:.3f} nats")
    return model, seconds, last


# %% [markdown]
# ## 5. Generalization
# The model saw only train sentences. Did it learn the grammar, or the list?
#
# *Likelihood.* The NELBO of lesson 04 bounds -log p_model(x). Against it stand two references:
# - a model that learned the *grammar* gives every sentence its true probability p(x): its
#   NELBO is -log p(x) on train and held-out sentences alike;
# - a model that memorized the *list* gives each train sentence p(x) / P(train) and each
#   held-out sentence 0: -log p(x) + log P(train) on train, infinity on held-out.
# We estimate the NELBO by Monte Carlo (method="mc": a noise level and a masked sentence per
# draw), average it over each split with the sentences' probabilities, and report the standard
# error. method="exact" enumerates the 2^8 masks of each sentence at 72 quadrature nodes: it
# took 35 s for the 256 sentences (against about 1.5 s for Monte Carlo) and gave 5.374 (train)
# and 5.796 (held out) for this model, within two standard errors of Monte Carlo.
#
# *Samples.* A model that learned the grammar puts P(held-out) of its samples on held-out
# sentences: grammatical, but never seen. A memorizer puts none there.

# %%
def split_nelbo(model, noise, corpus, split, num_draws, rng):
    """Probability-weighted mean NELBO over a split, its standard error, and mean -log p."""
    rows = corpus.split_indices(split)
    w = corpus.split_probs(split)                                 # (len(rows),), sums to 1
    est, se = ms.nelbo(model, noise, corpus.sequences[rows], method="mc",
                       num_samples=num_draws, rng=rng)
    return (float(w @ est), float(np.sqrt(w ** 2 @ se ** 2)),
            float(w @ -np.log(corpus.probs[rows])))


def composition(corpus, x):
    """Fractions of samples that are train sentences, held-out sentences, ungrammatical."""
    idx = corpus.index_of(x)
    heldout = np.isin(idx, corpus.heldout)
    train = np.isin(idx, corpus.train)
    return {"train": float(train.mean()), "heldout": float(heldout.mean()),
            "ungrammatical": float(1.0 - train.mean() - heldout.mean())}


# %% [markdown]
# ## 6. Figures

# %%
def plot_validity(curves, p_factorized, num, path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    styles = {"exact/tweedie": ("k", "-", "o"), "exact/euler": ("0.5", "--", "x"),
              "model/tweedie": ("C0", "-", "s"), "model/euler": ("C1", "--", "^")}
    for key, (color, ls, marker) in styles.items():
        v = np.array(curves[key])
        who, method = key.split("/")
        label = f"{'exact score' if who == 'exact' else 'trained ScoreMLP'}, {method} ({num[key]})"
        ax1.plot(STEPS[:len(v)], v, color=color, ls=ls, marker=marker, ms=5, label=label)
        # on the right: the broken fraction; a count of 0 is drawn at half a sample
        broken = np.maximum(1.0 - v, 0.5 / num[key])
        ax2.plot(STEPS[:len(v)], broken, color=color, ls=ls, marker=marker, ms=5, label=label)
    ax1.axhline(p_factorized, color="C3", ls=":", lw=1.2)
    ax1.text(2.3, p_factorized - 0.035, f"per-position sampler: {p_factorized:.4f}", color="C3",
             fontsize=8)
    ax1.axhline(MIN_VALID, color="0.6", ls=":", lw=1)
    ax1.text(1.1, MIN_VALID - 0.045, f"{MIN_VALID:.0%}", color="0.4", fontsize=8)
    ax1.set(xscale="log", xlabel="reverse steps", ylabel="fraction grammatical",
            ylim=(0.3, 1.02), title="Agreement is repaired by more steps")
    ax1.set_xticks(STEPS, [str(s) for s in STEPS])
    ax1.legend(loc="center right", fontsize=8)
    k = np.array(STEPS, dtype=float)
    ax2.plot(k, (1 - p_factorized) / k, color="C3", ls=":", lw=1.2, label=f"(1 - {p_factorized:.4f}) / steps")
    ax2.set(xscale="log", yscale="log", xlabel="reverse steps", ylabel="fraction ungrammatical",
            title="Broken sentences fall roughly like 1 / steps")
    ax2.set_xticks(STEPS, [str(s) for s in STEPS])
    ax2.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_generalization(gen, comp, p_heldout, log_p_train, path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6),
                                   gridspec_kw={"width_ratios": [1, 1.25]})
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
    rows = {"data": {"train": 1 - p_heldout, "heldout": p_heldout, "ungrammatical": 0.0},
            "trained model": comp,
            "memorizer (in theory)": {"train": 1.0, "heldout": 0.0, "ungrammatical": 0.0}}
    left = np.zeros(len(rows))
    colors = {"train": "C0", "heldout": "C1", "ungrammatical": "C3"}
    names = {"train": "train sentences", "heldout": "held out: grammatical, never seen",
             "ungrammatical": "ungrammatical"}
    for part in ("train", "heldout", "ungrammatical"):
        vals = np.array([r[part] for r in rows.values()])
        ax2.barh(np.arange(len(rows)), vals, 0.6, left=left, color=colors[part], label=names[part])
        for y, (v, l0) in enumerate(zip(vals, left)):
            if v > 0.04:
                ax2.text(l0 + v / 2, y, f"{v:.1%}", ha="center", va="center", fontsize=9,
                         color="white")
        left += vals
    ax2.set_yticks(np.arange(len(rows)), list(rows))
    ax2.set_ylim(len(rows) - 0.5, -1.3)                           # room for the legend on top
    ax2.set(xlim=(0, 1), xlabel="fraction of samples (model: 128 Tweedie steps)",
            title="What the samples are")
    ax2.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# %% [markdown]
# ## 7. Everything together

# %%
def main(num_samples=1000, num_other=400, steps_grid=STEPS, train_steps=3000, hidden=64,
         batch_size=128, num_train=20000, nelbo_draws=256, seed=0, fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    num_samples: samples per point of the main curve (exact score, Tweedie: the issue's
    claim); num_other: samples per point of the other three curves; steps_grid: numbers of
    reverse steps (increasing); train_steps, hidden, batch_size, num_train: the ScoreMLP and
    its training (num_train sentences drawn from the train split); nelbo_draws: Monte Carlo
    draws per sentence for the NELBO; seed: seeds everything; fig_dir: where the figures go;
    show: the print function.
    """
    steps_grid = tuple(int(k) for k in steps_grid)
    if not steps_grid or list(steps_grid) != sorted(set(steps_grid)) or steps_grid[0] < 1:
        raise ValueError(f"steps_grid must be increasing positive integers, got {steps_grid}")
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = ms.agreement_corpus()
    graph, noise = corpus.problem("absorbing")
    exact = ms.ExactScore(graph, corpus.sequences, corpus.probs)
    out = show_corpus(corpus, show)

    show("\n== 2. One step = a per-position sampler ==")
    x_fac, p_fac = factorized(corpus, num_samples, rng)
    x_one = ms.sample(exact, noise, num_samples, steps=1, rng=rng)
    v_fac, v_one = corpus.is_grammatical(x_fac).mean(), corpus.is_grammatical(x_one).mean()
    show(f"  per-position sampler: {v_fac:.3f} grammatical ({num_samples} samples; exact "
         f"{p_fac:.4f} = (3/4)^3 + (1/4)^3)")
    show(f"  exact score, 1 reverse step: {v_one:.3f} grammatical -- the same thing")
    broken = x_one[~corpus.is_grammatical(x_one)][:3]
    show("  one-step samples that break agreement: " + " | ".join(corpus.decode(broken)))
    g_uni, n_uni = corpus.problem("uniform")
    x_uni = ms.sample(ms.ExactScore(g_uni, corpus.sequences, corpus.probs), n_uni, num_other,
                      steps=1, rng=rng)
    v_uni = float(corpus.is_grammatical(x_uni).mean())
    show(f"  (uniform graph, exact score, 1 step: {v_uni:.3f}. There no token is final: the last\n"
         f"   denoising step reads every word against the other seven, and of three words that\n"
         f"   should agree, the odd one out is rewritten -- lesson 05's repair, by majority.\n"
         f"   On the absorbing graph an unmasked word is never revisited.)")
    out.update({"p_factorized": p_fac, "valid_factorized": float(v_fac),
                "valid_one_step": float(v_one), "valid_one_step_uniform": v_uni})

    show("\n== 3. Validity vs steps, exact score ==")
    out["same_step"] = same_step(exact, noise, corpus, rng)
    show(f"  largest |p_tweedie - p_euler| over one step on this corpus: {out['same_step']:.1e} "
         f"(the same step)")
    curves, num, last = {}, {}, {}
    for method in METHODS:
        key = f"exact/{method}"
        num[key] = num_samples if method == "tweedie" else num_other
        start = time.perf_counter()
        curves[key], last[key] = validity_curve(exact, noise, corpus, num[key], method, rng,
                                                steps_grid)
        show(f"  {method:7s} ({num[key]} samples, {time.perf_counter() - start:4.1f} s): "
             + "  ".join(f"{k}:{v:.3f}" for k, v in zip(steps_grid, curves[key])))
    top = curves["exact/tweedie"][-1]
    show(f"  samples at {steps_grid[-1]} Tweedie steps: "
         + " | ".join(corpus.decode(last["exact/tweedie"][:3])))

    show("\n== 4. A trained model (absorbing graph, train split only) ==")
    model, out["train_seconds"], out["train_loss"] = train_model(
        corpus, graph, noise, train_steps, hidden, batch_size, num_train, seed, show)
    for method in METHODS:
        key = f"model/{method}"
        num[key] = num_other
        start = time.perf_counter()
        curves[key], last[key] = validity_curve(model, noise, corpus, num[key], method, rng,
                                                steps_grid)
        show(f"  {method:7s} ({num[key]} samples, {time.perf_counter() - start:4.1f} s): "
             + "  ".join(f"{k}:{v:.3f}" for k, v in zip(steps_grid, curves[key])))
    out["curves"], out["num"], out["steps_grid"] = curves, num, list(steps_grid)
    path1 = fig_dir / "08_validity_vs_steps.png"
    plot_validity(curves, p_fac, num, path1)
    show(f"  figure: {path1}")

    show("\n== 5. Generalization: the model never saw the held-out sentences ==")
    gen, start = {}, time.perf_counter()
    for split in ("train", "heldout"):
        nelbo, se, neg_log_p = split_nelbo(model, noise, corpus, split, nelbo_draws, rng)
        gen[split] = {"nelbo": nelbo, "se": se, "neg_log_p": neg_log_p}
        show(f"  {split:8s} NELBO {nelbo:.3f} +- {se:.3f} nats   exact -log p {neg_log_p:.3f}   "
             f"(gap {nelbo - neg_log_p:+.3f})")
    show(f"  ({nelbo_draws} Monte Carlo draws per sentence, {time.perf_counter() - start:.1f} s)")
    log_p_train = float(np.log(1.0 - out["p_heldout"]))            # log P(train) < 0
    show(f"  a memorizer of the train list: {gen['train']['neg_log_p'] + log_p_train:.3f} on "
         f"train, infinite on held-out")
    comp = composition(corpus, last["model/tweedie"])
    show(f"  model samples ({num['model/tweedie']}, {steps_grid[-1]} Tweedie steps): "
         f"{comp['train']:.1%} train sentences, {comp['heldout']:.1%} grammatical but never "
         f"seen (held-out), {comp['ungrammatical']:.1%} ungrammatical")
    show(f"  the data puts {out['p_heldout']:.1%} of its mass on held-out sentences; a memorizer 0%")
    unseen = last["model/tweedie"][np.isin(corpus.index_of(last["model/tweedie"]),
                                           corpus.heldout)][:3]
    show("  unseen sentences the model wrote: " + " | ".join(corpus.decode(unseen)))
    path2 = fig_dir / "08_generalization.png"
    plot_generalization(gen, comp, out["p_heldout"], log_p_train, path2)
    show(f"  figure: {path2}")
    out.update({"generalization": gen, "composition": comp, "log_p_train": log_p_train,
                "figures": [str(path1), str(path2)]})

    passed = top >= MIN_VALID and v_one < MIN_VALID - 0.2
    out["passed"] = bool(passed)
    show(f"\nVerdict: exact score, {steps_grid[-1]} Tweedie steps: {top:.1%} grammatical (must be "
         f">= {MIN_VALID:.0%}); 1 step: {v_one:.1%} (the per-position sampler's "
         f"{p_fac:.1%}): {'PASS' if passed else 'FAIL'}")
    return out


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 08: dependencies between positions.")
    parser.add_argument("--num-samples", type=int, default=1000,
                        help="samples per point, exact score with Tweedie (default 1000)")
    parser.add_argument("--num-other", type=int, default=400,
                        help="samples per point of the other curves (default 400)")
    parser.add_argument("--train-steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden width of the ScoreMLP (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for the figures (default: the repo's figures/)")
    args = parser.parse_args()
    main(num_samples=args.num_samples, num_other=args.num_other, train_steps=args.train_steps,
         hidden=args.hidden, seed=args.seed, fig_dir=args.fig_dir)
