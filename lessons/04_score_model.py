"""Lesson 04: a score network, trained with denoising score entropy, and its likelihood bound.

What it teaches
    * What `ScoreMLP` computes: the one-hot tokens of *all* positions and two features of the
      noise level go through an MLP to a posterior pi_i over the clean token at each position,
      and the graph's kernel P = expm(sigma_bar Q) turns that posterior into the concrete score,
          s[i, y] = (pi_i P)_y / (pi_i P)_{x_i}.
      On the absorbing graph this is the *normalized* parameterization
          log s_y = log pi_i(y) - log expm1(sigma_bar)       (at a masked position),
      compared here with the paper's free log-scores ("scale_by_sigma").
    * That the hand-written backward pass of the whole model is right (finite differences).
    * Training with diffusion-weighted DSE on the toy corpus (6 sentences, MATH.md section 7),
      the loss curve, and the learned score against the exact one (`ExactScore`) as t varies.
    * The likelihood: the training loss estimates the bound of MATH.md section 6; with the
      exact score the bound equals log 6 for every sentence; trained models come close.
    * On the absorbing graph, DSE at a masked position is a cross-entropy, -log pi(x0) / expm1(sb).

Run
    python lessons/04_score_model.py          (about 25 s on 2 CPU cores)
    python lessons/04_score_model.py --help

What to expect
    Gradient-check errors below 1e-6. Training losses settle near log 6 = 1.7918 nats per
    sentence. The exact score's NELBO equals log 6 to 1e-6 on both graphs; the trained models'
    NELBO is within 0.02 nats of log 6 for every sentence. Figures: figures/04_loss.png and
    figures/04_score_error.png.
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
from minisedd.model import sigma_features  # noqa: E402

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
LOG6 = float(np.log(6.0))                    # entropy of the toy corpus, nats per sentence
DATA = ms.TOY_SENTENCES                      # (6, 4): {I, You, We} love {AI, NLP} .
KINDS = ("absorbing", "uniform")

# %% [markdown]
# ## 1. What the score model computes
# The absorbing problem: 9 tokens (8 real words and [MASK] = 8), LogLinear noise. The model
# reads the whole noisy sentence x_t (one-hot, L * n = 36 numbers) and two features of the noise
# level, e^{-sb} and log(1 + sb). Its MLP (38 -> 128 -> 128 -> L * K, SiLU) outputs K = 8 logits
# per position; a log-softmax turns them into a posterior pi_i(v), the model's guess of
# p(x0_i = v | the other noisy tokens). Every position reads every other one, so pi_i can depend
# on the context; a per-position model could not.
#
# The kernel turns the posterior into a concrete score, s[i, y] = (pi_i P)_y / (pi_i P)_{x_i}.
# At a masked position of the absorbing graph (pi_i P)_y = pi_i(y) e^{-sb} for a real word y and
# (pi_i P)_MASK = 1 - e^{-sb}, so
#     s_y = pi_i(y) / expm1(sb),        log s_y = log pi_i(y) - log expm1(sb)     (normalized)
# and the scores sum to exactly 1 / expm1(sb), as the true ones do (MATH.md section 3).
# The paper's network instead outputs free numbers o_y and shifts them,
#     log s_y = o_y - log expm1(sb) - log(n - 1)                                  ("scale_by_sigma")
# so expm1(sb) * sum_y s_y = mean_y exp(o_y), which is 1 only if training makes it so. Ours is
# the paper's head with o replaced by log_softmax(o) + log(n - 1). Below, an untrained model on
# 256 random noisy sentences, both readings of the *same* network outputs o.
#
# For the uniform graph the paper's network outputs free log-scores, one per (position, word).
# Ours writes the score through pi and the kernel for every graph. That form is *exact*: the
# true score has it, with pi_i the true posterior p(x0_i | x_{-i}) (see minisedd/score.py), and
# much of the sigma_bar dependence comes built in: the kernel P says how likely a word is to
# have been replaced by now, and pi only has to say which clean word the context suggests (it
# still sees sigma_bar, since how far to trust the context depends on the noise). Free
# log-scores must learn all of that. We check the form: ExactScore's posterior through the
# formula against a brute-force ratio of marginals p_t(x with x_i := y) / p_t(x).


# %%
def score_model(rng, seed, show=print):
    show("== 1. What ScoreMLP computes ==")
    graph, noise = ms.toy_problem("absorbing")
    model = ms.ScoreMLP(graph, length=4, seed=seed)
    show(f"{model}\n  MLP sizes {model.net.sizes}, SiLU; a posterior over K = {model.K} real words")
    B = 256
    sb = noise.total(rng.uniform(0.05, 0.95, size=B))             # (B,) sigma_bar(t)
    x_t = graph.sample_transition(DATA[rng.integers(0, 6, size=B)], sb, rng)   # (B, L)
    log_s = model.log_score(x_t, sb)                              # (B, L, n)
    masked = x_t == graph.mask                                    # (B, L)
    self_entry = np.take_along_axis(log_s, x_t[:, :, None], axis=2)            # log s[i, x_i]
    ours = np.expm1(sb)[:, None] * np.exp(log_s[..., :graph.mask]).sum(axis=2)  # (B, L)
    onehot = np.eye(graph.n)[x_t].reshape(B, -1)                  # (B, L * n)
    o, _ = model.net.forward(np.concatenate([onehot, sigma_features(sb)], axis=1))  # raw outputs
    paper = np.exp(o.reshape(B, 4, model.K)).mean(axis=2)        # (B, L): expm1(sb) sum_y s_y
    out = {"self_entry_max": float(np.abs(self_entry).max()),
           "normalized_sum_err": float(np.abs(ours[masked] - 1.0).max()),
           "paper_sum_range": (float(paper[masked].min()), float(paper[masked].max()))}
    show(f"  max |log s[i, x_i]|                              = {out['self_entry_max']:.1e}"
         "   (the self entry is 1)")
    show(f"  ours:  max |expm1(sb) sum_y s_y - 1|, masked      = {out['normalized_sum_err']:.1e}")
    show(f"  paper: expm1(sb) sum_y s_y from {out['paper_sum_range'][0]:.3f} to "
         f"{out['paper_sum_range'][1]:.3f}   (free; near 1 only because the last layer starts\n"
         "         small, and training must keep it there)")

    ugraph, _ = ms.toy_problem("uniform")
    exact = ms.ExactScore(ugraph, DATA)
    xu = rng.integers(0, ugraph.n, size=(8, 4))                   # (8, L) arbitrary noisy sentences
    sbu = np.full(8, 0.7)                                         # sigma_bar
    brute = np.empty((8, 4, ugraph.n))                            # p_t(x with x_i := y) / p_t(x)
    for i in range(4):
        for y in range(ugraph.n):
            xy = xu.copy()
            xy[:, i] = y
            brute[:, i, y] = exact.marginal(xy, sbu) / exact.marginal(xu, sbu)
    out["posterior_form_err"] = float(np.abs(np.exp(exact.log_score(xu, sbu)) - brute).max())
    show(f"  uniform graph, 8 random x_t: max |s via posterior - s by brute force| = "
         f"{out['posterior_form_err']:.1e}")
    return out


# %% [markdown]
# ## 2. A gradient check of the whole model
# One-hot -> MLP -> log-softmax -> exp -> kernel -> log-ratio -> DSE: the backward pass goes
# through every step by hand (model.py, score.py, losses.py). Centred finite differences on
# *every* parameter of a tiny model (hidden = 6), with the DSE of 5 noisy sentences as the
# function, must agree with it to better than 1e-6.


# %%
def gradient_check(seed, show=print):
    show("\n== 2. Gradient check of the whole model (DSE -> every parameter) ==")
    out = {}
    for kind in KINDS:
        graph, noise = ms.toy_problem(kind)
        tiny = ms.ScoreMLP(graph, length=4, hidden=6, depth=2, seed=seed + 1)
        rng = np.random.default_rng(seed + 1)
        x0 = DATA[rng.integers(0, 6, size=5)]                     # (5, L)
        sb = noise.total(rng.uniform(0.2, 0.9, size=5))           # (5,)
        x_t = graph.sample_transition(x0, sb, rng)                # (5, L)

        def loss(**params):         # gradcheck nudges tiny.params in place; read them from tiny
            return ms.dse_loss(graph, tiny.log_score(x_t, sb), x_t, x0, sb)[0].sum()

        log_s, cache = tiny.forward(x_t, sb)
        _, dlog_s = ms.dse_loss(graph, log_s, x_t, x0, sb)
        out[kind] = ms.gradcheck(loss, tiny.params, tiny.backward(dlog_s, cache), rng=rng)
        show(f"  {kind:9s} tiny ScoreMLP, all {tiny.num_params()} parameters: relative error "
             f"{out[kind]:.1e}   (expect < 1e-6)")
    return out


# %% [markdown]
# ## 3. Training with diffusion-weighted DSE
# `train` draws t ~ U[eps, 1], noises a batch of 256 sentences, and takes an Adam step on
# sigma(t) * DSE (MATH.md section 4), with its default settings. The loss is in nats per
# sentence and estimates the likelihood bound (over t in [1e-3, 1], section 5), so it settles
# near log 6 = 1.792. We train the uniform graph too (Geometric noise, n = 8): sections 4 and 5
# compare both. Each run takes a few seconds.


# %%
def train_models(steps, seed, path, show=print):
    show(f"\n== 3. Training on the toy corpus, {steps} steps per graph ==")
    models, histories, seconds = {}, {}, {}
    for kind in KINDS:
        graph, noise = ms.toy_problem(kind)
        models[kind] = ms.ScoreMLP(graph, length=4, seed=seed)
        show(f"{kind} graph:")
        start = time.perf_counter()
        histories[kind] = ms.train(models[kind], DATA, noise, steps, seed=seed,
                                   printer=lambda line: show("  " + line))
        seconds[kind] = time.perf_counter() - start
    tail = max(2, steps // 6)
    out = {"final_loss": {}, "final_loss_se": {}, "train_seconds": seconds, "tail": tail}
    for kind, h in histories.items():
        out["final_loss"][kind] = float(h[-tail:].mean())
        out["final_loss_se"][kind] = float(h[-tail:].std(ddof=1) / np.sqrt(tail))
        show(f"  {kind:9s} mean loss over the last {tail} steps: {out['final_loss'][kind]:.4f} "
             f"+- {2 * out['final_loss_se'][kind]:.4f} (2 s.e.; log 6 = {LOG6:.4f}); "
             f"{seconds[kind]:.1f} s")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    step = np.arange(1, steps + 1)
    edges = np.unique(np.geomspace(1, steps + 1, 40).astype(int))   # log-spaced bins of steps
    for ax, (kind, h) in zip(axes, histories.items()):
        centres = np.sqrt(edges[:-1] * (edges[1:] - 1))
        means = [h[a - 1:b - 1].mean() for a, b in zip(edges[:-1], edges[1:])]
        ax.plot(step, h, color="C0", alpha=0.3, lw=0.6, label="loss of each step")
        ax.plot(centres, means, "o-", color="C0", ms=3, lw=1.5, label="mean over log-spaced bins")
        ax.axhline(LOG6, color="k", ls="--", lw=1, label="log 6 = 1.792 (data entropy)")
        ax.set_title(f"{kind} graph")
        ax.set_xlabel("training step")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1, 12)
        ax.set_yticks([1, 1.5, 2, 3, 4, 6, 8, 12])
        ax.set_yticklabels(["1", "1.5", "2", "3", "4", "6", "8", "12"])
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("diffusion-weighted DSE (nats / sentence)")
    axes[0].legend(loc="upper right")
    fig.suptitle("Training loss on the toy corpus: an estimate of the likelihood bound")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    show("Look at: the loss falls from 8-10 nats to about log 6 within ~100 steps and then\n"
         "fluctuates around it. The uniform graph's estimate is noisier: every position carries\n"
         "loss at every t, not just the masked ones.")
    show(f"Figure: {path}")
    return models, out


# %% [markdown]
# ## 4. The learned score against the exact one
# ExactScore computes the true score of the 6-sentence distribution by enumeration. For t on a
# grid we draw noisy sentences x_t and compare log-scores on the entries that matter: the
# weighted ones (y != x_i with Q[y, x_i] > 0; on the absorbing graph, the masked positions).
# Where the true score is 0 (a word that never appears in that slot, e.g. "AI" in place of
# "love") the log error is infinite, so the left panel skips those entries. The right panel has
# no such blind spot: it is the expected score entropy of the model *against the exact score*,
#     sigma(t) E_{x_t} sum_i sum_y Q[y, x_i] l_SE(log s_model[i, y]; s_exact[i, y]),
# which is the excess of the model's expected DSE over the exact score's (because
# E[ratio | x_t] = s_exact and DSE is linear in the ratio up to a term without the model). We
# compute it exactly with `expected_dse`, averaged over the 6 sentences. Its area over t is the
# model's NELBO gap averaged over the data (section 5), up to the bits of the integral that
# t in [0, 1] leaves out (the geometric schedule's jump to sigma_min; absorbing, the last masks).
#
# Expect two different pictures. Absorbing: the model only has to name the word under a mask,
# and its log-scores are off by a fraction of a percent at every t. Uniform at small t: the
# scores of words other than x_i are about sigma_bar / n, tiny, and the model's relative error
# on them is large; but a tiny score costs little, and the right panel shows that what the
# likelihood pays stays small.


# %%
def score_error(models, rng, t_points, num_xt, path, show=print):
    show(f"\n== 4. Trained score against ExactScore, {t_points} values of t ==")
    t_grid = np.linspace(0.02, 0.98, t_points)
    log_err, excess = {}, {}
    for kind, model in models.items():
        graph, noise = ms.toy_problem(kind)
        exact = ms.ExactScore(graph, DATA)
        log_err[kind], excess[kind] = np.empty(t_points), np.empty(t_points)
        for k, t in enumerate(t_grid):
            sb = float(noise.total(t))                            # sigma_bar(t)
            x_t = graph.sample_transition(DATA[rng.integers(0, 6, size=num_xt)], sb, rng)
            sbs = np.full(num_xt, sb)
            lm, le = model.log_score(x_t, sbs), exact.log_score(x_t, sbs)   # (N, L, n) each
            use = (graph.Q_in[x_t] > 0) & np.isfinite(le)         # weighted, true score > 0
            log_err[kind][k] = np.abs(lm - le)[use].mean() if use.any() else np.nan
            gap = ms.expected_dse(model, DATA, sb) - ms.expected_dse(exact, DATA, sb)   # (6,)
            excess[kind][k] = float(noise.rate(t)) * gap.mean()
    show("  t     mean |log s_model - log s_exact|   sigma(t) x excess DSE (nats)")
    show("        absorbing    uniform               absorbing    uniform")
    for k in range(0, t_points, max(1, t_points // 8)):
        show(f"  {t_grid[k]:.2f}  {log_err['absorbing'][k]:9.2e}  {log_err['uniform'][k]:9.2e}"
             f"             {excess['absorbing'][k]:9.2e}  {excess['uniform'][k]:9.2e}")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for kind, style in zip(KINDS, ("C0o-", "C1s-")):
        axes[0].plot(t_grid, log_err[kind], style, ms=4, label=f"{kind} graph")
        axes[1].plot(t_grid, np.maximum(excess[kind], 1e-12), style, ms=4, label=f"{kind} graph")
    axes[0].set_title(f"log-score error on weighted entries with true score > 0\n"
                      f"({num_xt} sampled x_t per t)", fontsize=10)
    axes[0].set_ylabel("mean |log s_model - log s_exact|")
    axes[1].set_title("excess DSE of the model over the exact score\n"
                      "(exact; its area over t is about the mean NELBO gap)", fontsize=10)
    axes[1].set_ylabel("sigma(t) E sum w l_SE(log s_model; s_exact)")
    for ax in axes:
        ax.set_xlabel("t")
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 10 if ax is axes[0] else 0.1)   # near t = 1 the uniform curves
        ax.grid(alpha=0.3, which="both")
        ax.legend()                 # ... fall off the bottom (see the text above)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    show("Look at: on the absorbing graph the log-scores are off by well under 1% at every t.\n"
         "On the uniform graph the log error is large at small t, but on scores of about\n"
         "sigma_bar / n, which hardly count: the excess DSE (what the likelihood pays) stays near\n"
         "1e-3 or below at every t. Near t = 1 the uniform x_t is almost pure noise, every score\n"
         "is ~1, there is nothing left to learn, and both uniform curves drop towards 0.")
    show(f"Figure: {path}")
    return {"t_grid": t_grid.tolist(),
            "score_log_error": {k: v.tolist() for k, v in log_err.items()},
            "score_excess": {k: v.tolist() for k, v in excess.items()}}


# %% [markdown]
# ## 5. The likelihood bound
# nelbo(method="exact") integrates the DSE over sigma_bar from 0 by Gauss-Legendre quadrature
# and enumerates every noisy sentence (MATH.md section 6). With the exact score the bound is
# tight: it equals -log p_data(x0) = log 6 for every sentence, on both graphs. For a trained
# model it is an upper bound on -log p_model(x0). A single sentence may land slightly *below*
# log 6 (the model gives it a bit more than 1/6), but the mean over the data cannot: the
# cross-entropy of the data against any model is at least the data's entropy, log 6.
# The training loss estimates the same integral, but over t in [1e-3, 1] only, and with the
# weights of the moment rather than their running average. With the exact score that part of
# the integral is about 0.004 nats below log 6 on the absorbing graph (the first and last
# thousandth of the masking) and under 0.001 below on the uniform one, so the final training
# loss may sit a little below log 6 while the full bound does not.


# %%
def likelihood(models, final_loss, nodes, show=print):
    show(f"\n== 5. The likelihood bound, exact (quadrature with {nodes} nodes per panel) ==")
    out = {"nelbo_exact": {}, "nelbo_model": {}, "exact_err": {}, "gap_mean": {}, "gap_worst": {}}
    for kind, model in models.items():
        graph, noise = ms.toy_problem(kind)
        out["nelbo_exact"][kind] = ms.nelbo(ms.ExactScore(graph, DATA), noise, DATA, nodes=nodes)
        out["nelbo_model"][kind] = ms.nelbo(model, noise, DATA, nodes=nodes)
        gap = out["nelbo_model"][kind] - LOG6
        out["exact_err"][kind] = float(np.abs(out["nelbo_exact"][kind] - LOG6).max())
        out["gap_mean"][kind] = float(gap.mean())
        out["gap_worst"][kind] = float(np.abs(gap).max())
    show(f"  NELBO per sentence, nats (log 6 = {LOG6:.6f})")
    show(f"  {'sentence':14s} {'exact score':>22s}   {'trained ScoreMLP':>22s}")
    show(f"  {'':14s} {'absorbing':>11s} {'uniform':>10s}   {'absorbing':>11s} {'uniform':>10s}")
    for j, sentence in enumerate(ms.decode(DATA)):
        exact, model = out["nelbo_exact"], out["nelbo_model"]
        show(f"  {sentence:14s} {exact['absorbing'][j]:11.6f} {exact['uniform'][j]:10.6f}   "
             f"{model['absorbing'][j]:11.6f} {model['uniform'][j]:10.6f}")
    for kind in models:
        show(f"  {kind:9s} exact score: max |NELBO - log 6| = {out['exact_err'][kind]:.1e};  "
             f"trained: gap mean {out['gap_mean'][kind]:+.4f}, worst |gap| "
             f"{out['gap_worst'][kind]:.4f} nats (expect <= 0.02)")
    show("Look at: the exact score gives log 6 to every digit shown, on both graphs. The trained\n"
         "models scatter around it by less than 0.02 nats, some sentences below: the bound is on\n"
         "the model's own -log p(x0), and the model gives those sentences a bit more than 1/6.")
    for kind in models:
        show(f"  {kind:9s} training loss at the end {final_loss[kind]:.4f} vs mean exact NELBO "
             f"{out['nelbo_model'][kind].mean():.4f}")
    return out


# %% [markdown]
# ## 6. On the absorbing graph, DSE is a cross-entropy
# At a masked position the DSE ratios are r_y = [y = x0_i] / expm1(sb) and our scores are
# s_y = pi(y) / expm1(sb). With c = 1 / expm1(sb) the score entropy, summed over y, is
#     sum_y (c pi(y) - r_y log(c pi(y)) + K(r_y)) = c - c log c - c log pi(x0_i) + c log c - c
#                                                 = -log pi(x0_i) / expm1(sb):
# the cross-entropy of the posterior with the clean word, scaled. With LogLinear noise also
# sigma(t) / expm1(sigma_bar(t)) = 1 / t exactly, so the training loss is
# E_t (1/t) sum_{masked i} -log pi_i(x0_i): the loss of masked diffusion language models.


# %%
def cross_entropy(model, rng, show=print):
    show("\n== 6. Absorbing graph: DSE at masked positions = -log pi(x0) / expm1(sb) ==")
    graph, noise = model.graph, ms.toy_problem("absorbing")[1]
    t = rng.uniform(0.1, 0.9, size=512)
    sb = noise.total(t)                                           # (B,)
    x0 = DATA[rng.integers(0, 6, size=512)]                       # (B, L)
    x_t = graph.sample_transition(x0, sb, rng)                    # (B, L)
    dse = ms.dse_loss(graph, model.log_score(x_t, sb), x_t, x0, sb)[0]        # (B,)
    pi_x0 = np.take_along_axis(model.posterior(x_t, sb), x0[:, :, None], axis=2)[..., 0]
    ce = np.where(x_t == graph.mask, -np.log(pi_x0), 0.0).sum(axis=1) / np.expm1(sb)   # (B,)
    out = {"ce_identity_err": float(np.abs(dse - ce).max() / np.abs(dse).max()),
           "one_over_t_err": float(np.abs(noise.rate(t) * t / np.expm1(sb) - 1.0).max())}
    show(f"  512 noisy sentences: max |DSE - sum_masked -log pi(x0) / expm1(sb)| / max DSE = "
         f"{out['ce_identity_err']:.1e}")
    show(f"  LogLinear: max |sigma(t) t / expm1(sigma_bar(t)) - 1| = {out['one_over_t_err']:.1e}")
    return out


# %%
def main(steps=3000, seed=0, nodes=8, t_points=16, num_xt=1200, fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    steps: training steps per graph (train's other settings are its defaults); seed: seeds the
    models, training and the sampled x_t; nodes: Gauss-Legendre nodes per panel of the exact
    NELBO; t_points: values of t in figure 04_score_error; num_xt: sampled x_t per value of t;
    fig_dir: where the figures go; show: the print function.
    """
    rng = np.random.default_rng(seed)
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = score_model(rng, seed, show)
    out["gradcheck"] = gradient_check(seed, show)
    models, trained = train_models(steps, seed, fig_dir / "04_loss.png", show)
    out.update(trained)
    out.update(score_error(models, rng, t_points, num_xt, fig_dir / "04_score_error.png", show))
    out.update(likelihood(models, out["final_loss"], nodes, show))
    out.update(cross_entropy(models["absorbing"], rng, show))
    out["figures"] = [str(fig_dir / "04_loss.png"), str(fig_dir / "04_score_error.png")]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 04: the score model, training and the "
                                                 "likelihood bound.")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per graph")
    parser.add_argument("--seed", type=int, default=0, help="seed of models, training and sampling")
    parser.add_argument("--nodes", type=int, default=8,
                        help="Gauss-Legendre nodes per panel of the exact NELBO")
    parser.add_argument("--t-points", type=int, default=16,
                        help="values of t in the score-error figure")
    parser.add_argument("--num-xt", type=int, default=1200,
                        help="sampled noisy sentences per value of t in that figure")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for 04_loss.png and 04_score_error.png")
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed, nodes=args.nodes, t_points=args.t_points,
         num_xt=args.num_xt, fig_dir=args.fig_dir)
