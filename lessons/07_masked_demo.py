"""Lesson 07: the seed's demo II, generation from fully masked input, done with real SEDD.

The seed notebook started from "[MASK] [MASK] [MASK] [MASK]" and printed five predictions --
the same sentence, "I love NLP .", five times. A generator that always says the same thing
has learned one mode, not the data. This lesson trains a score network by score entropy on
the absorbing graph and shows that its samples follow the WHOLE data distribution:

1. Train a ScoreMLP on the six toy sentences {I, You, We} love {AI, NLP} . (absorbing graph,
   n = 9 with MASK_ID = 8, LogLinear(1e-3) schedule), 3000 steps, a few seconds.
2. From all-[MASK], generate with the Tweedie sampler (64 steps) and print the seed's table.
   Beside it, the argmax of the one-step denoiser: the seed's way of decoding, which gives
   one sentence for every row.
3. Over 4000 samples: the frequency of each sentence against the data (1/6 each), the
   total-variation distance, the fraction that are training sentences; then the same with
   ONE step (a single Tweedie step plus denoising), and why one step suffices here.

Run:   python lessons/07_masked_demo.py             (about 10 s; --help for options)
Expect: the five samples are not all the same; all six sentences, each near 0.167; >= 99%
training sentences (usually 99.9% or more); TV <= 0.05 (about 0.01-0.02, the size of the
sampling noise of 4000 draws); one step does as well as 64 on this corpus. The figure is
figures/07_masked_demo.png.
"""
# %%
import argparse
import pathlib
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minisedd as ms

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
MIN_VALID = 0.99          # the thresholds for demo II
MAX_TV = 0.05
DATA = np.full(len(ms.TOY_SENTENCES), 1.0 / len(ms.TOY_SENTENCES))   # p_data: 1/6 each


def words(x):
    """Token ids (L,) -> words, for the tables."""
    return ms.decode(x)


# %% [markdown]
# ## 1. The problem and the model
# `toy_problem("absorbing")` is the seed's second setup: the absorbing graph on 9 tokens,
# where every word turns into [MASK] (id 8) at rate 1 and [MASK] stays, with the log-linear
# schedule, under which a token is masked at time t with probability (1 - 1e-3) t. At t = 1
# nearly every token is masked: the limit of the forward process is all-[MASK], so that is
# where generation starts, and the input tells the model nothing.
#
# The network predicts the posterior pi_i(v) = p(x0_i = v | x_{-i}) of every masked position over
# the 8 real tokens; at a masked position its score is s_y = pi_i(y) / expm1(sigma_bar)
# (MATH.md section 3). `score="exact"` swaps in the exact score of the corpus instead.

# %%
def build_score(kind, train_steps, seed, show=print):
    """(graph, noise, score): a trained ScoreMLP ("model") or the exact score ("exact")."""
    graph, noise = ms.toy_problem("absorbing")
    if kind == "exact":
        show("score: the exact score of the corpus (no training)")
        return graph, noise, ms.ExactScore(graph, ms.TOY_SENTENCES)
    model = ms.ScoreMLP(graph, length=ms.TOY_SENTENCES.shape[1], seed=seed)
    start = time.perf_counter()
    history = ms.train(model, ms.TOY_SENTENCES, noise, train_steps, seed=seed, log_every=0)
    last = history[-min(500, train_steps):].mean()
    show(f"trained a ScoreMLP ({model.num_params()} parameters) for {train_steps} steps in "
         f"{time.perf_counter() - start:.1f} s; mean loss of the last 500 steps {last:.3f} "
         f"nats (a noisy estimate of the bound, log 6 = {np.log(6):.3f} for a perfect model)")
    return graph, noise, model


# %% [markdown]
# ## 2. The seed's table
# `ms.sample(score, noise, N, steps=64)` runs the reverse process from all-[MASK] at t = 1 down
# to t = 1e-5 in 64 Tweedie steps: at each step every masked position is unmasked with the
# probability the score gives, to a token drawn from the score, and a final denoising step
# fills whatever is still masked. Each sample is a fresh random path, so the five samples
# differ.
#
# The seed decoded differently: one denoising step from all-[MASK], then the most likely token
# at each position (argmax). From all-[MASK] the posterior of every position is its data
# marginal -- 1/3 each for I / You / We, 1/2 each for AI / NLP -- a tie, broken by whatever
# tiny error the network has. The input is the same for every row, so argmax prints the same
# sentence every time: the seed's "I love NLP ." x 5. That is a decoding failure, not a
# modelling one; the column "argmax" shows it with our own model.

# %%
def argmax_decode(score, noise, num):
    """The seed's decoding: argmax of the one-step denoiser from all-[MASK], (num, L)."""
    graph, L = score.graph, score.length
    x_T = np.full((num, L), graph.mask)                          # (num, L) all [MASK]
    probs = ms.denoise_probs(score, x_T, float(noise.total(1.0)))   # (num, L, n)
    return probs.argmax(axis=-1), probs


def print_table(x_T, samples, argmax, show=print):
    head = ("Sample", "Input x_T", "Predicted x0_hat (64 steps)", "argmax (the seed's decoding)")
    rows = [(str(k), words(x_T[k]), words(samples[k]), words(argmax[k]))
            for k in range(samples.shape[0])]
    width = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    def line(cells):
        return "| " + " | ".join(f"{v:<{w}}" for v, w in zip(cells, width)) + " |"
    show(line(head))
    show("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        show(line(r))


# %% [markdown]
# ## 3. Do the samples follow the data distribution?
# Five rows cannot tell. Over many samples we count how often each of the six sentences
# appears, the fraction of samples that are training sentences at all, and the total-variation
# distance TV = 1/2 sum |f - p_data| (a sample outside the corpus counts fully; `sample_tv`).
#
# TV is never exactly 0 for a finite number of samples: even perfect samples -- N draws from
# the data itself -- have TV of order 1/2 sum sqrt(p (1 - p) / N) ~ 0.015 at N = 4000. The
# lesson prints that floor so you can read our TV against it.

# %%
def evaluate(samples):
    """(freq (6,), fraction of training sentences, TV to the data distribution)."""
    freq, inside = ms.empirical(samples, ms.TOY_SENTENCES)
    return freq, inside, ms.sample_tv(samples, ms.TOY_SENTENCES, DATA)


# %% [markdown]
# ## 4. One step is enough -- here
# With steps=1 the sampler takes a single Tweedie step from t = 1 to t = 1e-5, which unmasks
# (nearly) every position at once, each drawn from its own posterior given all-[MASK]: the data
# marginal of that position. Then the denoising step fills the rare position left masked.
# On this corpus that is exact: the six sentences are {I, You, We} x love x {AI, NLP} x ., so
# the data distribution is the PRODUCT of its per-position marginals -- positions are
# independent -- and drawing each position on its own from its marginal draws a sentence with
# the right probability. A one-step sampler cannot do better than that product of marginals on
# any corpus. Lesson 08 uses a corpus whose positions depend on each other (a small grammar
# with agreement between words): there one step mixes parts of different sentences into
# ungrammatical ones, and the many-step sampler -- which unmasks a few positions at a time
# and draws the rest given them -- is needed.

# %%
def plot(results, argmax_sentence, floor, num_samples, path):
    """Left: frequencies (64 steps, 1 step) vs the data; right: the argmax decoding."""
    names = [words(s) for s in ms.TOY_SENTENCES]
    x = np.arange(len(names))
    se = np.sqrt(DATA * (1 - DATA) / num_samples)               # (6,) sampling std of a frequency
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    ax1.fill_between([-0.6, len(names) - 0.4], DATA[0] - 2 * se[0], DATA[0] + 2 * se[0],
                     color="0.85", label=f"data 1/6 +- 2 s.e. ({num_samples} samples)")
    ax1.axhline(DATA[0], color="k", lw=1.2, ls="--", zorder=3)
    for k, (label, freq, tv, color) in enumerate(results):
        ax1.bar(x + (k - 0.5) * 0.38, freq, width=0.38, color=color,
                label=f"{label} (TV {tv:.3f})")
    top = max(0.25, max(r[1].max() for r in results) + 0.03)
    ax1.set(xticks=x, ylim=(0, top), xlim=(-0.6, len(names) - 0.4), ylabel="frequency",
            title="Samples from all-[MASK] follow the data")
    ax1.set_xticklabels(names, fontsize=9)
    ax1.legend(loc="upper center", fontsize=8, ncol=2)
    arg = (ms.TOY_SENTENCES == argmax_sentence).all(axis=1).astype(float)   # (6,) all on one
    ax2.bar(x - 0.19, DATA, width=0.38, color="0.6", label="data")
    ax2.bar(x + 0.19, arg, width=0.38, color="C3", label="argmax of the one-step denoiser")
    ax2.set(xticks=x, ylim=(0, 1.05), ylabel="frequency",
            title="The seed's decoding: all mass on one sentence")
    ax2.set_xticklabels(names, fontsize=8, rotation=30, ha="right")
    ax2.legend(loc="upper left", fontsize=8)
    ax2.text(0.98, 0.55, f"TV = {1 - 1 / 6:.3f}\n(exact data: TV 0;\n{num_samples} perfect "
             f"draws: ~{floor:.3f})\n\nthe seed printed\n\"I love NLP .\" five times",
             transform=ax2.transAxes, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# %% [markdown]
# ## 5. Everything together

# %%
def main(train_steps=3000, num_samples=4000, steps=64, num_shown=5, score="model", seed=0,
         fig_dir=FIG_DIR, show=print):
    """Run the demo; returns a dict of the numbers it printed.

    train_steps: training steps of the ScoreMLP; num_samples: samples for the frequencies;
    steps: reverse steps of the many-step sampler; num_shown: rows of the seed's table;
    score: "model" (train a ScoreMLP) or "exact" (the exact score, no training); seed: seeds
    training and sampling; fig_dir: where 07_masked_demo.png goes; show: where the printed
    lines go (print).
    """
    graph, noise, model = build_score(score, train_steps, seed, show)
    L = ms.TOY_SENTENCES.shape[1]

    show(f"\n== The seed's table: generate from all-[MASK] ({steps} Tweedie steps) ==")
    x_T = np.full((num_shown, L), graph.mask)
    shown = ms.sample(model, noise, num_shown, steps=steps, rng=np.random.default_rng(seed + 1))
    argmax, probs = argmax_decode(model, noise, num_shown)
    print_table(x_T, shown, argmax, show)
    distinct_shown = len(ms.exact.unique_rows(shown, graph.n)[0])
    show("posterior of position 0 given all-[MASK]: "
         + ", ".join(f"{ms.TOY_VOCAB[v]} {probs[0, 0, v]:.4f}" for v in (1, 2, 3))
         + " -- a near-tie, so argmax decides by the network's tiny errors")

    show(f"\n== {num_samples} samples: frequency of each sentence ==")
    start = time.perf_counter()
    many = ms.sample(model, noise, num_samples, steps=steps, rng=np.random.default_rng(seed + 2))
    time_many = time.perf_counter() - start
    start = time.perf_counter()
    one = ms.sample(model, noise, num_samples, steps=1, rng=np.random.default_rng(seed + 3))
    time_one = time.perf_counter() - start
    freq, valid, tv = evaluate(many)
    freq1, valid1, tv1 = evaluate(one)
    perfect = ms.TOY_SENTENCES[np.random.default_rng(seed + 4).integers(0, len(DATA), num_samples)]
    floor = evaluate(perfect)[2]                                 # TV of draws from the data itself
    arg_freq = (ms.TOY_SENTENCES == argmax[0]).all(axis=1).astype(float)
    row = "{:<18} {:>7} {:>9} {:>8} {:>16}".format
    show(row("sentence", "data", f"{steps} steps", "1 step", "argmax decoding"))
    for k, sentence in enumerate(ms.TOY_SENTENCES):
        show(row(words(sentence), f"{DATA[k]:.3f}", f"{freq[k]:.3f}", f"{freq1[k]:.3f}",
                 f"{arg_freq[k]:.3f}"))
    show(row("training sentences", "100.00%", f"{valid:.2%}", f"{valid1:.2%}",
             f"{arg_freq.sum():.2%}"))
    show(row("TV to the data", "0.000", f"{tv:.3f}", f"{tv1:.3f}",
             f"{ms.tv_distance(arg_freq, DATA):.3f}"))
    show(f"({steps} steps took {time_many:.1f} s, 1 step {time_one:.2f} s; {num_samples} draws "
         f"from the data itself have TV {floor:.3f}: that is the sampling noise)")

    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig_path = fig_dir / "07_masked_demo.png"
    plot([(f"{steps} Tweedie steps", freq, tv, "C0"), ("1 step", freq1, tv1, "C1")],
         argmax[0], floor, num_samples, fig_path)
    show(f"figure: {fig_path}")

    checks = {"the five samples are not all the same": distinct_shown > 1,
              "every sentence appears": bool((freq > 0).all()),
              f"training sentences >= {MIN_VALID:.0%}": valid >= MIN_VALID,
              f"TV <= {MAX_TV}": tv <= MAX_TV}
    passed = all(checks.values())
    failed = [name for name, ok in checks.items() if not ok]
    show(f"\nVerdict (demo II): {distinct_shown} different sentences among the {num_shown} "
         f"shown; {int((freq > 0).sum())} of 6 sentences appear in {num_samples} samples; "
         f"{valid:.2%} training sentences (>= {MIN_VALID:.0%}); TV {tv:.3f} (<= {MAX_TV}): "
         f"{'PASS' if passed else 'FAIL (' + '; '.join(failed) + ')'}. "
         f"One step: {valid1:.2%}, TV {tv1:.3f}.")
    return {"shown": shown, "distinct_shown": distinct_shown, "argmax": argmax[0],
            "freq": freq, "valid": valid, "tv": tv, "freq_one_step": freq1,
            "valid_one_step": valid1, "tv_one_step": tv1, "tv_floor": floor,
            "checks": checks, "passed": bool(passed), "fig_path": fig_path}


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-steps", type=int, default=3000,
                        help="training steps (default 3000)")
    parser.add_argument("--num-samples", type=int, default=4000,
                        help="samples for the frequencies (default 4000)")
    parser.add_argument("--steps", type=int, default=64, help="reverse sampling steps (default 64)")
    parser.add_argument("--num-shown", type=int, default=5,
                        help="rows of the seed's table (default 5)")
    parser.add_argument("--score", choices=("model", "exact"), default="model",
                        help="train a ScoreMLP (model) or use the exact score (exact)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="where to write 07_masked_demo.png (default: the repo's figures/)")
    args = parser.parse_args()
    main(train_steps=args.train_steps, num_samples=args.num_samples, steps=args.steps,
         num_shown=args.num_shown, score=args.score, seed=args.seed, fig_dir=args.fig_dir)
