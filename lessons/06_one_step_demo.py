"""Lesson 06: the seed's demo I, one-step generation from one-step noise, done with real SEDD.

The seed notebook noised toy sentences in one forward step and predicted the clean sentence
in one reverse step. This lesson does the same with a score network trained by score
entropy on the uniform graph, and then measures what a table of five rows cannot show:

1. Train a ScoreMLP on the six toy sentences {I, You, We} love {AI, NLP} . (uniform graph,
   n = 8, Geometric(1e-4, 20) schedule), 6000 steps, about 10 s.
2. Noise five sentences to t = 1 in ONE forward step: x_T ~ expm(sigma_bar(1) Q)[x0, .].
3. Predict x0 in ONE reverse step: the Tweedie denoiser p(x0_i | x_T) (minisedd.denoise_probs),
   and draw x0_hat from it. Print the seed's table.
4. Over 1000 inputs: the fraction of one-step predictions that are training sentences, and, at
   intermediate noise levels, how often the prediction recovers the ORIGINAL sentence --
   compared with what the exact score achieves from the same noisy inputs.

Run:   python lessons/06_one_step_demo.py            (about 15 s; --help for options)
Expect: >= 99% of the one-step predictions from t = 1 are training sentences (99.9% or more);
the recovery rate falls from ~1 at small noise to 1/6 at t = 1 (x_T has no information left),
and the model's curve lies on the exact one (drawn recovery rates within ~0.01). At middle noise
(t ~ 0.8) a few percent of the model's one-step predictions are NOT sentences: section 3 says
why. The figure is figures/06_one_step.png.
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
from minisedd.graphs import sample_categorical

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
LEVELS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)   # times t at which recovery is measured
MIN_VALID = 0.99          # the threshold: fraction of one-step predictions in the corpus
MAX_GAP = 0.03            # "tracks" the exact score: drawn recovery rates differ by at most this


def words(x):
    """Token ids (L,) -> words, for the tables."""
    return ms.decode(x)


# %% [markdown]
# ## 1. The problem and the model
# `toy_problem("uniform")` is the seed's first setup: the uniform graph on the 8 tokens
# `<pad> I You We love AI NLP .` (no [MASK]: under uniform noise a token turns into any
# token) and the geometric schedule sigma_bar(t) = 1e-4^(1-t) 20^t. At t = 1, sigma_bar = 20
# and a token has survived with probability e^{-20} ~ 2e-9: x_T is uniform noise.
#
# The network predicts, for every position i, the posterior pi_i(v) = p(x0_i = v | x_{-i})
# given the other noisy positions (model.py); its concrete score is built from that
# posterior. Training with the diffusion-weighted denoising score entropy (lesson 04) drives
# pi towards the true posterior.
#
# Why 6000 steps and not 3000 (enough for the likelihood and for the 64-step sampler)? The
# loss constrains pi only through the score, and under heavy uniform noise the score barely
# depends on pi: at sigma_bar = 20, s_y = 1 + O(e^{-20}) whatever pi is. So the posterior at
# t = 1 -- all that a one-step prediction uses -- is not learned from the loss there but
# carried over by the network from lower noise levels, where it is learned, and it settles
# slowly. After 3000 steps, depending on the seed, 98% to 99.7% of the predictions from t = 1
# are sentences (try --train-steps 3000 --seed 1); after 6000 steps, 99.9% or more for every
# seed we tried (0 to 4). The likelihood bound hardly changes between the two: it does not
# depend on the posterior at t = 1.

# %%
def build_score(kind, train_steps, seed, show=print):
    """The score used for the demo: a trained ScoreMLP ("model") or the exact score ("exact").

    Returns (graph, noise, score, exact): exact is ExactScore on the corpus, the reference.
    """
    graph, noise = ms.toy_problem("uniform")
    exact = ms.ExactScore(graph, ms.TOY_SENTENCES)
    if kind == "exact":
        show("score: the exact score of the corpus (no training)")
        return graph, noise, exact, exact
    model = ms.ScoreMLP(graph, length=ms.TOY_SENTENCES.shape[1], seed=seed)
    start = time.perf_counter()
    history = ms.train(model, ms.TOY_SENTENCES, noise, train_steps, seed=seed, log_every=0)
    last = history[-min(500, train_steps):].mean()
    show(f"trained a ScoreMLP ({model.num_params()} parameters) for {train_steps} steps in "
         f"{time.perf_counter() - start:.1f} s; mean loss of the last 500 steps {last:.3f} "
         f"nats (a noisy estimate of the bound, log 6 = {np.log(6):.3f} for a perfect model)")
    return graph, noise, model, exact


# %% [markdown]
# ## 2. One forward step, one reverse step
# Forward: `graph.sample_transition(x0, sigma_bar(1), rng)` draws every token of x_T from
# row x0_i of expm(sigma_bar Q) at once -- no simulation of the chain is needed.
#
# Reverse: the Tweedie denoiser. One Tweedie step of size delta = sigma_bar takes x_T all the
# way back to zero noise, and with the exact score it IS the posterior p(x0_i | x_T) of
# each position. `denoise_probs(score, x_T, sigma_bar)` returns it, shape (B, L, n).
#
# Why DRAW x0_hat from it instead of taking the argmax? At sigma_bar = 20 the noise has erased
# the input, so the posterior is simply the data distribution: 1/3 each for I / You / We, 1/2
# each for AI / NLP. The argmax of a near-tie is decided by the network's tiny errors (0.342
# instead of 1/3), not by the input, and it lands on the same one or two sentences nearly
# every time. That is the seed's failure mode in its demo II (five times "I love NLP .").
# Drawing gives the six sentences in their right proportions. The table shows both.

# %%
def one_step(score, graph, x0, sb, rng):
    """Noise x0 (B, L) to sigma_bar = sb in one step and denoise in one step.

    Returns (x_T, drawn x0_hat, argmax x0_hat, probs (B, L, n)).
    """
    x_T = graph.sample_transition(x0, sb, rng)                  # (B, L) one forward step
    probs = ms.denoise_probs(score, x_T, sb)                     # (B, L, n) p(x0_i | x_T)
    return x_T, sample_categorical(probs, rng), probs.argmax(axis=-1), probs


def print_table(x0, x_T, drawn, argmax, show=print):
    """The seed's table (Sample | x_T | x0_hat) with the original and the argmax beside it."""
    head = ("Sample", "Original x0", "One-step noise x_T", "One-step prediction x0_hat",
            "argmax instead")
    rows = [(str(k), words(x0[k]), words(x_T[k]), words(drawn[k]), words(argmax[k]))
            for k in range(x0.shape[0])]
    width = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    def line(cells):
        return "| " + " | ".join(f"{v:<{w}}" for v, w in zip(cells, width)) + " |"
    show(line(head))
    show("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        show(line(r))


# %% [markdown]
# ## 3. Are the predictions sentences, and do they recover the original?
# Two different questions:
# - *valid*: is x0_hat one of the six training sentences? This is what the seed's demo I
#   shows. A model that has learned the data distribution should answer yes almost always.
# - *recovered*: is x0_hat equal to the x0 that was noised? At small noise x_T still shows
#   x0 and a good denoiser recovers it; at t = 1 nothing of x0 is left and the best possible
#   rate is 1/6 (any of the six sentences is equally likely).
#
# Watch the model's validity at middle noise (t ~ 0.8, sigma_bar ~ 1.7): there a few percent
# of its one-step predictions are not sentences, while the exact score never errs. This is
# the same story as at t = 1, milder: a probability of 1% on a wrong token changes the score,
# and so the loss, by only ~1e-4 nats, so the loss hardly corrects it. The likelihood and the
# many-step sampler (lesson 07) do not care: later steps, at lower noise, fix such tokens.
# A one-step prediction has no later step and shows every error of the posterior.
#
# The exact score gives the best the one-step denoiser can do. Here the posterior factorizes
# over positions (the corpus is a product over positions and the noise acts on each position
# alone), so the exact per-position argmax is the most likely sentence: on average, "exact
# argmax" is the highest recovery rate any predictor can reach from x_t. Only on average: a
# noisy token that is impossible at its position (say "love" in position 0) leaves a tie,
# 1/3 each for I / You / We, and every argmax is then a coin toss, won or lost by luck; the
# two argmax curves differ by a few hundredths for that reason alone. The drawn predictions
# are compared more sharply: the model and the exact score see the same noisy inputs, and
# their draws use the same random numbers (two generators with the same seed), so the gap
# between the two "draw" curves comes from the scores, not from luck.

# %%
def recovery_curve(score, exact, graph, noise, levels, num_inputs, seed):
    """Recovery and validity of one-step predictions at each time t in levels.

    Returns a dict of arrays (len(levels),): sigma_bar, and for "model" / "exact" and
    "draw" / "argmax" the fraction recovered (x0_hat == x0) and the fraction valid.
    """
    rng = np.random.default_rng(seed)
    out = {"t": np.array(levels, dtype=float), "sigma_bar": noise.total(np.array(levels))}
    for key in ("recovered", "valid"):
        for who in ("model", "exact"):
            for how in ("draw", "argmax"):
                out[f"{key}_{who}_{how}"] = np.empty(len(levels))
    for k, sb in enumerate(out["sigma_bar"]):
        x0 = ms.TOY_SENTENCES[rng.integers(0, len(ms.TOY_SENTENCES), num_inputs)]   # (N, L)
        x_t = graph.sample_transition(x0, sb, rng)                                  # (N, L)
        draw_seed = int(rng.integers(2**31))
        for who, sc in (("model", score), ("exact", exact)):
            probs = ms.denoise_probs(sc, x_t, sb)                                   # (N, L, n)
            preds = {"draw": sample_categorical(probs, np.random.default_rng(draw_seed)),
                     "argmax": probs.argmax(axis=-1)}
            for how, x_hat in preds.items():
                out[f"recovered_{who}_{how}"][k] = (x_hat == x0).all(axis=1).mean()
                out[f"valid_{who}_{how}"][k] = ms.empirical(x_hat, ms.TOY_SENTENCES)[1]
    return out


# %% [markdown]
# ## 4. The figure
# Left: recovery rate against sigma_bar (log scale), model (solid) on top of exact (dashed);
# the dotted line is 1/6, the rate of a guess from the data distribution. Right: the fraction
# of predictions that are training sentences.

# %%
def plot(curve, path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    sb = curve["sigma_bar"]
    styles = {("model", "draw"): ("C0", "-", "o"), ("exact", "draw"): ("k", "--", None),
              ("model", "argmax"): ("C1", "-", "s"), ("exact", "argmax"): ("0.45", ":", None)}
    for (who, how), (color, ls, marker) in styles.items():
        label = f"{who}, {'draw' if how == 'draw' else 'argmax'}"
        ax1.plot(sb, curve[f"recovered_{who}_{how}"], color=color, ls=ls, marker=marker, ms=5,
                 lw=1.8 if who == "model" else 1.4, label=label)
        if who == "model":
            ax2.plot(sb, curve[f"valid_{who}_{how}"], color=color, ls=ls, marker=marker, ms=5,
                     label=label)
    ax1.axhline(1 / 6, color="0.6", ls=":", lw=1)
    ax1.text(sb[0], 1 / 6 + 0.02, "1/6: a guess from the data distribution", fontsize=8,
             color="0.35")
    for t, s in zip(curve["t"], sb):
        ax1.annotate(f"t={t:g}", (s, 1.0), xytext=(0, 6), textcoords="offset points",
                     ha="center", fontsize=7, color="0.4")
    ax1.set(xscale="log", ylim=(0, 1.08), xlabel="noise level sigma_bar(t)",
            ylabel="P(one-step prediction = original x0)",
            title="Recovering the noised sentence in one step")
    ax1.title.set_position((0.5, 1.05))
    ax1.legend(loc="center right", fontsize=8)
    ax2.plot(sb, curve["valid_exact_draw"], color="k", ls="--", lw=1.2, label="exact (both)")
    ax2.axhline(MIN_VALID, color="C3", ls=":", lw=1,
                label=f"demo I threshold at t = 1: {MIN_VALID:.0%}")
    low = min(0.95, curve["valid_model_draw"].min() - 0.01,
              curve["valid_model_argmax"].min() - 0.01)
    ax2.set(xscale="log", ylim=(low, 1.003), xlabel="noise level sigma_bar(t)",
            ylabel="fraction that are training sentences",
            title="Are the one-step predictions sentences?")
    ax2.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# %% [markdown]
# ## 5. Everything together

# %%
def main(train_steps=6000, num_inputs=1000, num_shown=5, levels=LEVELS, score="model", seed=0,
         fig_dir=FIG_DIR, show=print):
    """Run the demo; returns a dict of the numbers it printed.

    train_steps: training steps of the ScoreMLP; num_inputs: noisy inputs per measurement;
    num_shown: rows of the seed's table; levels: times t for the recovery curve (1.0 is added
    if missing); score: "model" (train a ScoreMLP) or "exact" (use the exact score, no
    training); seed: seeds training and all draws; fig_dir: where 06_one_step.png goes;
    show: where the printed lines go (print).
    """
    levels = tuple(sorted(set(float(t) for t in levels) | {1.0}))
    graph, noise, model, exact = build_score(score, train_steps, seed, show)
    sb1 = float(noise.total(1.0))                                # sigma_bar(1) = 20
    rng = np.random.default_rng(seed + 1)

    show(f"\n== The seed's table: noise to t = 1 (sigma_bar = {sb1:g}) in one step, "
         f"predict x0 in one step ==")
    shown_x0 = ms.TOY_SENTENCES[rng.integers(0, len(ms.TOY_SENTENCES), num_shown)]   # (5, L)
    shown = one_step(model, graph, shown_x0, sb1, rng)          # x_T, drawn, argmax, probs
    print_table(shown_x0, *shown[:3], show)
    show("posterior of position 0 given x_T (row 0): "
         + ", ".join(f"{ms.TOY_VOCAB[v]} {shown[3][0, 0, v]:.4f}" for v in (1, 2, 3))
         + "  -- the data distribution (1/3 each): the noise left nothing of x0")

    show(f"\n== {num_inputs} inputs noised to t = 1, predicted in one step ==")
    x0 = ms.TOY_SENTENCES[rng.integers(0, len(ms.TOY_SENTENCES), num_inputs)]
    x_T, drawn, argmax, _ = one_step(model, graph, x0, sb1, rng)
    freq_draw, valid_draw = ms.empirical(drawn, ms.TOY_SENTENCES)
    freq_arg, valid_arg = ms.empirical(argmax, ms.TOY_SENTENCES)
    distinct_draw = int((freq_draw > 0).sum())
    show("sentence          data   drawn x0_hat   argmax x0_hat")
    for k, sentence in enumerate(ms.TOY_SENTENCES):
        show(f"{words(sentence):<16}  {1 / 6:.3f}  {freq_draw[k]:12.3f}  {freq_arg[k]:14.3f}")
    show(f"training sentences: {valid_draw:.2%} of drawn ({distinct_draw} of the 6 appear), "
         f"{valid_arg:.2%} of argmax -- the argmax of a near-tie piles up on one or two")

    show(f"\n== Recovery of the original sentence vs noise level ({num_inputs} inputs each) ==")
    curve = recovery_curve(model, exact, graph, noise, levels, num_inputs, seed + 2)
    show("   t   sigma_bar | recovered: model draw  exact draw | model argmax  exact argmax "
         "| valid (model draw)")
    for k, t in enumerate(curve["t"]):
        c = {key: value[k] for key, value in curve.items()}
        show(f"{t:5.2f}  {c['sigma_bar']:9.4g} | {c['recovered_model_draw']:20.3f}"
             f"  {c['recovered_exact_draw']:10.3f} | {c['recovered_model_argmax']:12.3f}"
             f"  {c['recovered_exact_argmax']:12.3f} | {c['valid_model_draw']:.3f}")
    gap = float(np.abs(curve["recovered_model_draw"] - curve["recovered_exact_draw"]).max())
    show(f"largest |model - exact| gap of the drawn recovery rates: {gap:.3f} (the model tracks "
         f"the exact score if this is below {MAX_GAP}); 'exact argmax' is, on average, the "
         f"best any predictor can do")

    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig_path = fig_dir / "06_one_step.png"
    plot(curve, fig_path)
    show(f"figure: {fig_path}")

    passed = valid_draw >= MIN_VALID
    show(f"\nVerdict (demo I): {valid_draw:.2%} of one-step predictions from one-step noise "
         f"(t = 1) are training sentences (must be >= {MIN_VALID:.0%}): "
         f"{'PASS' if passed else 'FAIL'}; recovery within {gap:.3f} of the exact score "
         f"({'tracks it' if gap <= MAX_GAP else 'does NOT track it'}).")
    return {"valid_draw": valid_draw, "valid_argmax": valid_arg, "freq_draw": freq_draw,
            "freq_argmax": freq_arg, "distinct_draw": distinct_draw,
            "table": {"x0": shown_x0, "x_T": shown[0], "drawn": shown[1], "argmax": shown[2]},
            "curve": curve, "max_gap": gap, "passed": bool(passed),
            "fig_path": fig_path}


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-steps", type=int, default=6000,
                        help="training steps (default 6000)")
    parser.add_argument("--num-inputs", type=int, default=1000,
                        help="noisy inputs per measurement (default 1000)")
    parser.add_argument("--num-shown", type=int, default=5,
                        help="rows of the seed's table (default 5)")
    parser.add_argument("--score", choices=("model", "exact"), default="model",
                        help="train a ScoreMLP (model) or use the exact score (exact)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="where to write 06_one_step.png (default: the repo's figures/)")
    args = parser.parse_args()
    main(train_steps=args.train_steps, num_inputs=args.num_inputs, num_shown=args.num_shown,
         score=args.score, seed=args.seed, fig_dir=args.fig_dir)
