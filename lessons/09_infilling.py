"""Lesson 09: infilling -- conditional generation by holding the given words fixed.

What it teaches
    * sample(..., condition=c): c holds a token id at each given position and -1 at each free
      one; the sampler starts from the limit and puts the given tokens back after every step.
    * Three conditions on the agreement corpus of lesson 08 -- a prefix, a suffix and the
      middle given -- and the exact conditional distribution of each (the sentences that
      match, with their probabilities renormalized). The total-variation distance (TV) between
      4000 conditional samples (128 steps) and it says whether the sampler got it right.
    * Why holding tokens fixed is exact on the absorbing graph and only an approximation on
      the uniform graph, measured, with a control experiment that isolates the cause.
    * A trained model's infills (figures/09_infilling.png).

Run
    python lessons/09_infilling.py            (about 40 s on 2 CPU cores)
    python lessons/09_infilling.py --help

What to expect
    Absorbing graph, exact score: TV about 0.01-0.02 for each of the three conditions (at most
    0.05), at the level of the sampling noise of 4000 draws, and every infill grammatical.
    Uniform graph, exact score, same clamping: the prefix is as good, but the suffix and middle
    conditions give TV ~0.25 -- a quarter of the infills break agreement with the given word --
    while the control (the exact score of the conditional distribution itself) is back at ~0.02.
    The trained model's infills are ~99% grammatical with TV ~0.03-0.09 (1000 draws each).
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

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
CONDITIONS = {                    # "_" marks a free position
    "prefix": "these dogs near the cat _ _ _",
    "suffix": "_ _ behind the cat sleep today .",
    "middle": "_ dogs near the cat _ _ _",
}
BLANKS_AGREE = {"blanks agree": "_ _ near the cat _ _ _"}   # number not given, for section 2
CONTRAST = {"suffix, singular verb": "_ _ behind the cats sleeps today ."}   # for section 3
MAX_TV = 0.05                     # the threshold for the absorbing graph, exact score

# %% [markdown]
# ## 1. Three conditions and their exact answers
# Each condition fixes some words and leaves blanks. The words the blanks may take are
# constrained at a distance: in the prefix "these dogs near the cat _ _ _" the verb must be
# plural (agreeing with "dogs", 4 words back, not with the neighbouring "cat"); in the suffix
# "_ _ behind the cat sleep today ." the plural "sleep" forces a plural determiner and noun,
# although plural subjects are rarer (1/4) in the corpus; in the middle "_ dogs near the cat _
# _ _" the determiner before and the verb after must both agree with "dogs".
#
# Since the corpus lists every sentence with its probability, the exact conditional
# distribution is a filter: keep the sentences that carry the given words, renormalize.

# %%
def exact_conditional(corpus, condition):
    """The sentences matching condition (L,) (-1 = free) and their conditional probabilities."""
    match = ((corpus.sequences == condition) | (condition < 0)).all(axis=1)    # (M,)
    return corpus.sequences[match], corpus.probs[match] / corpus.probs[match].sum()


def free_words(corpus, x, condition):
    """The words at the free positions of each row of x, for labels."""
    free = np.flatnonzero(condition < 0)
    return [" ".join(corpus.vocab[t] for t in row[free]) for row in np.atleast_2d(x)]


def noise_floor(support, probs, num, rng, repeats=20):
    """Mean TV between `num` exact draws and the distribution: what sampling noise alone gives."""
    tvs = [ms.sample_tv(support[rng.choice(len(probs), size=num, p=probs)], support, probs)
           for _ in range(repeats)]
    return float(np.mean(tvs))


# %% [markdown]
# ## 2. Absorbing graph: holding tokens fixed is exact
# On the absorbing graph a token that is not [MASK] at time t IS the clean token x0: the
# forward process only ever replaces tokens by [MASK]. A sentence with the given words in place
# and the rest masked is therefore a state the conditional process really visits, and the
# exact score there -- the posterior of each masked word given the unmasked ones -- is already
# the posterior *given the condition*. Clamping adds nothing false, so the sampler draws from
# the exact conditional distribution, up to the same per-step factorization error as in
# lesson 08 (with 128 steps, well under 1%).
#
# Do infills need many steps? In the three conditions above a given word fixes the number, and
# then the blanks no longer depend on each other: a per-position sampler -- one step -- is
# already exact for them. With the number left open, as in "_ _ near the cat _ _ _", the blank
# determiner, noun and verb must agree with *each other*, and one step breaks them exactly as
# in lesson 08.

# %%
def infill(score, noise, corpus, num, steps, rng, conditions=CONDITIONS):
    """Conditional samples for each condition, with TV to the exact conditional."""
    out = {}
    for name, text in conditions.items():
        c = corpus.condition(text)                                # (L,), -1 at the blanks
        support, probs = exact_conditional(corpus, c)
        x = ms.sample(score, noise, num, steps=steps, condition=c, rng=rng)    # (num, L)
        freq, inside = ms.empirical(x, support)
        unseen = np.isin(corpus.index_of(support), corpus.heldout)  # completions held out of train
        out[name] = {"unseen": unseen, "condition": c, "support": support, "probs": probs, "samples": x,
                     "freq": freq, "inside": inside, "tv": ms.sample_tv(x, support, probs),
                     "valid": float(corpus.is_grammatical(x).mean()),
                     "held": bool((x[:, c >= 0] == c[c >= 0]).all())}
    return out


def report(results, label, show, floors=None):
    for name, r in results.items():
        floor = f"  (sampling noise alone ~{floors[name]:.3f})" if floors else ""
        show(f"  {label} {name:6s} TV {r['tv']:.4f}  grammatical {r['valid']:.1%}{floor}")


# %% [markdown]
# ## 3. Uniform graph: holding tokens fixed is only an approximation
# On the uniform graph a token at time t is x0 with probability e^{-sigma_bar} and a uniformly
# random word otherwise. The exact score therefore reads every observed word -- clamped or not
# -- as *noisy evidence* of x0: it favours x0 = x_t by a likelihood ratio of only
# 1 + n / expm1(sigma_bar(t)), which is 1 at t = 1 (sigma_bar = 20), 5 at t = 0.8 and passes
# 100 only near t = 0.6. Clamping, on the other hand, treats the given words as clean at every
# t. So while the noise is high the given words count for little, and the free words are
# drawn mostly from the data's marginals: singular 3/4 of the time. Free words that settle on
# the same number then back each other, and the uniform graph's last, low-noise steps rewrite a
# word only when the others outvote it. In the suffix (free determiner and noun) and middle
# (free determiner and verb) conditions two free words stand against one given word, and when
# they settled on the wrong number they win: the sentence ends ungrammatical. In the prefix,
# two given words ("these dogs") outvote the one free verb. And the same suffix with a
# singular verb, "_ _ behind the cats sleeps today .", rarely breaks: there the marginals
# already pull the free words the right way.
#
# The control: run the same clamped sampler with the exact score of the *conditional*
# distribution (ExactScore on the matching sentences only). Then the evidence the score reads
# and the clamping agree, and the TV falls to the noise floor: the gap is clamping's, not the
# uniform graph's or the sampler's. (A correct conditional sampler for the uniform graph needs
# the conditional score; an unconditional score with clamping is an approximation that is good
# when the given words agree with what the data would have put there anyway.)

# %%
def evidence_ratio(graph, noise, t):
    """How much the uniform-graph score favours x0 = x_t for an observed word: 1 + n / expm1(sb)."""
    return 1.0 + graph.n / np.expm1(noise.total(t))


# %% [markdown]
# ## 4. A trained model's infills
# The ScoreMLP of lesson 08 (absorbing graph, hidden 64, 3000 steps, train split only),
# retrained here. Its infills are drawn with the same clamping; their TV to the exact
# conditional includes what the model has not learned (and the held-out sentences it never saw).

# %%
def train_model(corpus, graph, noise, train_steps, seed, show):
    data = corpus.sample(20000, np.random.default_rng(seed), split="train")
    model = ms.ScoreMLP(graph, corpus.length, hidden=64, seed=seed)
    start = time.perf_counter()
    ms.train(model, data, noise, train_steps, batch_size=128, seed=seed, log_every=0)
    show(f"  ScoreMLP hidden=64, {train_steps} steps of 128 on the train split: "
         f"{time.perf_counter() - start:.1f} s")
    return model


# %% [markdown]
# ## 5. The figure
# One panel per condition: the exact conditional probability of each way to fill the blanks
# (grey), and the frequencies of the infills on the absorbing graph, on the uniform graph and
# from the trained model; the last row is the fraction of infills that are not sentences at
# all. The fourth panel is the evidence ratio of section 3 along the sampler's run.

# %%
def plot(corpus, absorbing, uniform, model, graph_u, noise_u, path):
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    rows = [("exact conditional", "0.6", None), ("absorbing, exact score", "C0", absorbing),
            ("uniform, exact score (clamped)", "C3", uniform)]
    if model is not None:
        rows.append(("absorbing, trained model", "C2", model))
    h = 0.8 / len(rows)                                           # bar height
    for ax, name in zip(axes.flat, CONDITIONS):
        a = absorbing[name]
        labels = free_words(corpus, a["support"], a["condition"]) + ["(not a sentence)"]
        y = np.arange(len(labels))
        for k, (label, color, res) in enumerate(rows):
            vals = (np.append(a["probs"], 0.0) if res is None
                    else np.append(res[name]["freq"], 1 - res[name]["inside"]))
            ax.barh(y - 0.4 + (k + 0.5) * h, vals, h, color=color, label=label)
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        tvs = ", ".join(f"{lab.split(',')[0] if res is not model else 'model'} "
                        f"{res[name]['tv']:.3f}" for lab, _, res in rows[1:])
        ax.set(xlabel="probability / frequency",
               title=f"{name}: \"{CONDITIONS[name]}\"\nTV: {tvs}")
        ax.title.set_fontsize(10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(rows), fontsize=9, frameon=False)
    ax = axes.flat[3]
    t = np.linspace(0.0, 1.0, 201)
    ax.plot(t, evidence_ratio(graph_u, noise_u, t), color="C3", label="uniform graph")
    ax.axhline(10, color="0.6", ls=":", lw=1)
    ax.invert_xaxis()                                             # the sampler's direction
    ax.set(yscale="log", xlabel="t (the sampler runs from t = 1, left, to t = 0, right)",
           ylabel="likelihood ratio for x0 = the observed word",
           title="How much a clamped word counts as evidence of x0")
    ax.title.set_fontsize(10)
    ax.text(0.98, 10 * 1.3, "10", color="0.4", fontsize=8)
    ax.text(0.95, 3e3, "absorbing graph: infinite at every t\n(an unmasked word is x0)",
            color="C0", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# %% [markdown]
# ## 6. Everything together

# %%
def main(num_samples=4000, num_uniform=1500, num_model=1000, steps=128, train_steps=3000,
         seed=0, fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    num_samples: infills per condition on the absorbing graph (exact score); num_uniform:
    infills per condition on the uniform graph and in its control (fewer: there every row is
    distinct and the exact score costs more), and for the number-left-open condition; num_model: infills per condition from the trained
    model (0: skip training); steps: reverse steps; train_steps: training steps of the model;
    seed: seeds everything; fig_dir: where 09_infilling.png goes; show: the print function.
    """
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = ms.agreement_corpus()
    out = {"conditions": dict(CONDITIONS)}

    show("== 1. Conditions and their exact conditional distributions ==")
    floors = {}
    for name, text in CONDITIONS.items():
        c = corpus.condition(text)
        support, probs = exact_conditional(corpus, c)
        floors[name] = noise_floor(support, probs, num_samples, rng)
        show(f"  {name:6s} {text!r:38s} condition {c.tolist()}")
        show(f"         {len(probs)} ways to fill the blanks: " + ", ".join(
            f"{w} {p:.3f}" for w, p in zip(free_words(corpus, support, c), probs)))
    out["noise_floor"] = floors

    show(f"\n== 2. Absorbing graph, exact score: {num_samples} infills each, {steps} steps ==")
    graph_a, noise_a = corpus.problem("absorbing")
    exact_a = ms.ExactScore(graph_a, corpus.sequences, corpus.probs)
    start = time.perf_counter()
    absorbing = infill(exact_a, noise_a, corpus, num_samples, steps, rng)
    report(absorbing, "absorbing", show, floors)
    show(f"  ({time.perf_counter() - start:.1f} s) examples:")
    for name, r in absorbing.items():
        show(f"    {name:6s} " + " | ".join(corpus.decode(r["samples"][:3])))
    one = infill(exact_a, noise_a, corpus, num_samples, 1, rng)
    show("  with ONE step: " + ", ".join(f"{k} TV {r['tv']:.4f}" for k, r in one.items())
         + "  -- given the number, the blanks are independent")
    (text,) = BLANKS_AGREE.values()
    agree = {k: infill(exact_a, noise_a, corpus, num_uniform, k, rng, BLANKS_AGREE)["blanks agree"]
             for k in (1, steps)}
    show(f"  number left open, {text!r} ({num_uniform} infills): "
         + ", ".join(f"{k} step{'s' if k > 1 else ''}: TV {r['tv']:.3f}, grammatical "
                     f"{r['valid']:.1%}" for k, r in agree.items()))

    show(f"\n== 3. Uniform graph, exact score: {num_uniform} infills each (fewer: slower), "
         f"{steps} steps ==")
    graph_u, noise_u = corpus.problem("uniform")
    exact_u = ms.ExactScore(graph_u, corpus.sequences, corpus.probs)
    for t in (1.0, 0.8, 0.6, 0.4, 0.2):
        show(f"  t = {t:.1f}: sigma_bar = {float(noise_u.total(t)):8.4f}, a clamped word is "
             f"evidence of ratio {float(evidence_ratio(graph_u, noise_u, t)):10.1f}")
    start = time.perf_counter()
    uniform = infill(exact_u, noise_u, corpus, num_uniform, steps, rng)
    report(uniform, "uniform  ", show)
    control = {}
    for name, text in CONDITIONS.items():
        c = corpus.condition(text)
        support, probs = exact_conditional(corpus, c)
        cond_score = ms.ExactScore(graph_u, support, probs)      # the conditional's own score
        control[name] = infill(cond_score, noise_u, corpus, num_uniform, steps, rng,
                               {name: text})[name]
    report(control, "control  ", show)
    contrast = infill(exact_u, noise_u, corpus, num_uniform, steps, rng, CONTRAST)
    for name, r in contrast.items():
        show(f"  uniform   {name} {CONTRAST[name]!r}: TV {r['tv']:.4f}  "
             f"grammatical {r['valid']:.1%}")
    show(f"  ({time.perf_counter() - start:.1f} s) infills that break agreement with the given words:")
    for name, r in uniform.items():
        bad = r["samples"][~corpus.is_grammatical(r["samples"])][:2]
        if len(bad):
            show(f"    {name:6s} " + " | ".join(corpus.decode(bad)))

    model_res = None
    if num_model:
        show(f"\n== 4. A trained model (absorbing graph): {num_model} infills each ==")
        model = train_model(corpus, graph_a, noise_a, train_steps, seed, show)
        model_res = infill(model, noise_a, corpus, num_model, steps, rng)
        report(model_res, "model    ", show)
        for name, r in model_res.items():
            u = r["unseen"]
            show(f"    {name:6s} {u.sum()} of the {len(u)} completions are held-out sentences: "
                 f"exact probability {r['probs'][u].sum():.3f}, model frequency {r['freq'][u].sum():.3f}")
        for name, r in model_res.items():
            show(f"    {name:6s} " + " | ".join(corpus.decode(r["samples"][:2])))

    path = fig_dir / "09_infilling.png"
    plot(corpus, absorbing, uniform, model_res, graph_u, noise_u, path)
    show(f"\nfigure: {path}")

    def numbers(res):
        return {k: {"tv": r["tv"], "valid": r["valid"], "inside": r["inside"], "held": r["held"],
                    "support_size": len(r["probs"])} for k, r in res.items()}
    out.update({"absorbing": numbers(absorbing), "uniform": numbers(uniform),
                "control": numbers(control), "contrast": numbers(contrast),
                "one_step": numbers(one), "blanks_agree": numbers(agree),
                "figure": str(path)})
    if model_res is not None:
        out["model"] = numbers(model_res)
    worst = max(r["tv"] for r in absorbing.values())
    out["passed"] = bool(worst <= MAX_TV)
    show(f"Verdict: absorbing graph, exact score, largest TV over the three conditions {worst:.4f} "
         f"(must be <= {MAX_TV}): {'PASS' if out['passed'] else 'FAIL'}; uniform graph with "
         f"clamping: " + ", ".join(f"{k} {r['tv']:.3f}" for k, r in uniform.items())
         + " (control " + ", ".join(f"{r['tv']:.3f}" for r in control.values()) + ")")
    return out


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 09: infilling.")
    parser.add_argument("--num-samples", type=int, default=4000,
                        help="infills per condition, absorbing graph (default 4000)")
    parser.add_argument("--num-uniform", type=int, default=1500,
                        help="infills per condition, uniform graph and control (default 1500)")
    parser.add_argument("--num-model", type=int, default=1000,
                        help="infills per condition from a trained model; 0 skips it (default 1000)")
    parser.add_argument("--steps", type=int, default=128, help="reverse steps (default 128)")
    parser.add_argument("--train-steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for 09_infilling.png (default: the repo's figures/)")
    args = parser.parse_args()
    main(num_samples=args.num_samples, num_uniform=args.num_uniform, num_model=args.num_model,
         steps=args.steps, train_steps=args.train_steps, seed=args.seed, fig_dir=args.fig_dir)
