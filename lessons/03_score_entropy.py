# %% [markdown]
# # Lesson 03: score entropy against L2 (concrete score matching)
#
# Lesson 02 showed that the concrete score, the ratios p_t(y) / p_t(x), is all the reverse
# process needs. A network must learn those ratios, and the loss it is trained with matters.
# Here a small network learns the ratios r[x, y] = p(y) / p(x) of a distribution over 4 tokens,
# p = [0.05, 0.15, 0.30, 0.50], from one-hot(x) and one-hot(y), in three ways, with the
# engine's losses and hand-derived gradients:
#
# 1. L2 on the raw output, s = out        (concrete score matching; s may go negative);
# 2. L2 on s = exp(out)                   (positive, but the gradient vanishes as s -> 0);
# 3. score entropy on s = exp(out)        (SEDD: positive, and the gradient does not vanish).
#
# We derive score entropy (and its numerically stable form), check every hand gradient
# against finite differences, train over 10 seeds, and explain the result.
#
# What to expect: the error of a run is the mean of |log s - log r| over the 12 pairs x != y.
# At step 100 the median over 10 seeds is at or below 0.03 for score entropy (measured:
# 0.0059), and at least 3x larger for L2 on the raw output (0.0652), which also passes through
# negative "ratios" on the way; L2 on exp(output) (0.0373) learns the large ratios well and the
# small ones several times worse.
#
# Setup (fixed, not tuned): network 8 -> 32 ReLU -> 1 (`ms.MLP`, He initialization
# N(0, 2 / fan_in), zero biases); Adam with lr 1e-2; each step draws 64 tokens x ~ p and pairs
# every one with the 3 tokens y != x (192 pairs); the loss is the mean over the pairs. Seeds
# 0..9; within a seed all three losses start from the same network and see the same batches.
#
# Run it as a notebook (jupytext), or as a script: `python lessons/03_score_entropy.py`
# (about 12 s on a 2-core AMD EPYC server, one lesson at a time; writes figures/03_sedd_vs_csm.png);
# `--help` lists the options; `MINISEDD_QUICK=1` (or `--quick`) selects small settings.

# %%
import matplotlib
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

import minisedd as ms
from minisedd.notebook import figure, options, show_figure, table

opt = options("Lesson 03: score entropy against L2",
              full=dict(num_seeds=10, steps=100, batch_size=64, every=20),
              quick=dict(num_seeds=3, every=50),
              help=dict(num_seeds="independent training runs (seeds 0..num_seeds-1)",
                        steps="Adam steps per run",
                        batch_size="tokens x ~ p per step; each is paired with the 3 "
                                   "tokens y != x",
                        every="steps between the figure's columns"))
print(opt)

# %% [markdown]
# ## 1. The problem
#
# p is a distribution over 4 tokens. The concrete score of token x is the vector of ratios
# r[x, y] = p(y) / p(x) (lesson 02). We learn the 12 off-diagonal ratios with a network that
# reads the pair (x, y) as one-hot(x) followed by one-hot(y): 8 inputs, 32 ReLU units, 1
# output z. Training pairs come the way they would in diffusion: draw x ~ p, and ask for
# s(x, y) at every y != x. So pairs starting at a rare x (p(x) = 0.05, where the ratios are
# large: 3, 6, 10) are seen 10 times less often than pairs starting at x = 3 (ratios 0.1, 0.3,
# 0.6).

# %%
PROBS = np.array([0.05, 0.15, 0.30, 0.50])                  # the target distribution p
n = len(PROBS)                                              # 4 tokens
RATIO = PROBS[None, :] / PROBS[:, None]                     # (4, 4): r[x, y] = p(y) / p(x)
PAIR_X, PAIR_Y = np.nonzero(~np.eye(n, dtype=bool))         # the 12 off-diagonal pairs
ROWS = {"l2_raw": "L2 on raw output\n(concrete score matching)",
        "l2_exp": "L2 on exp(output)",
        "score_entropy": "score entropy on exp(output)\n(SEDD)"}


def features(x, y):
    """one-hot(x) next to one-hot(y): int arrays (B,) -> (B, 8)."""
    f = np.zeros((len(x), 2 * n))
    f[np.arange(len(x)), x] = 1.0
    f[np.arange(len(x)), n + y] = 1.0
    return f


print(f"p = {PROBS.tolist()}; target ratios r[x, y] = p(y) / p(x):\n{np.round(RATIO, 4)}")

# %% [markdown]
# ## 2. Three losses for one network output z
#
# **L2, or concrete score matching.** The obvious loss for a target ratio r is the squared
# error of the predicted score s:
#
#     l_2(s; r) = (s - r)^2,        d l_2 / d s = 2 (s - r).
#
# On the raw output, s = z, so d l_2 / d z = 2 (s - r); nothing keeps s positive. With
# s = e^z the score is positive, and the chain rule gives d l_2 / d z = 2 (s - r) e^z =
# 2 (s - r) s.
#
# **Score entropy.** Ask instead for a loss in z = log s that (a) is smallest exactly at
# e^z = r, (b) is convex in z, and (c) keeps a gradient that does not vanish as s -> 0. The
# simplest is l(z) = e^z - r z: its derivative e^z - r is zero only at z = log r, its second
# derivative e^z is positive, and as z -> -infinity the derivative tends to -r, not 0. Its
# minimum value is r - r log r. Adding
#
#     K(r) = r (log r - 1)          (K(0) = 0, the limit of r log r)
#
# moves that minimum to 0, so the loss measures "how far from right" on an absolute scale:
#
#     l_SE(z; r) = e^z - r z + K(r)  >= 0,  zero iff z = log r,      d l_SE / d z = e^z - r.
#
# (For r > 0. A target r = 0 leaves l_SE = e^z, which is never 0 and only tends to it as
# z -> -inf: the model is pushed to give that ratio as little as it can. Lesson 04 meets such
# targets on the absorbing graph, and the stable form below is written for r > 0.)
#
# (The paper's score entropy sums this over pairs (x, y) with a weight w_xy >= 0 on each; in
# this lesson every weight is 1. Lesson 04 uses the forward rates Q[y, x] as the weights.)
#
# **A stable form.** Near the minimum the three terms are large and cancel. With
# u = z - log r: e^z = r e^u, r z = r u + r log r, so the log r terms cancel exactly and
#
#     l_SE = r (e^u - 1 - u) = r (expm1(u) - u),      d l_SE / d z = r expm1(u),
#
# which is exactly 0 at u = 0 and accurate for tiny u (`ms.score_entropy` uses it). Below:
# the naive formula against the engine's, at z slightly off log r (the true value is about
# r u^2 / 2).
#
# The engine's losses return (sum of the loss, gradient with respect to their first argument);
# the rest of the chain rule is ours, and each loss is averaged over the pairs of a batch.

# %%
r, u = 10.0, np.array([1e-2, 1e-5, 1e-7, 1e-8, 0.0])
z = np.log(r) + u
naive = np.exp(z) - r * z + r * (np.log(r) - 1)             # e^z - r z + K(r), as written
stable = np.array([ms.score_entropy(np.array([zi]), np.array([r]))[0] for zi in z])
table(["u = z - log r", "naive e^z - r z + K(r)", "ms.score_entropy", "r u^2 / 2"],
      [(f"{a:g}", f"{b:.3e}", f"{c:.3e}", f"{r * a * a / 2:.3e}")
       for a, b, c in zip(u, naive, stable)])
print(f"Look at: as u -> 0 the naive formula loses its digits (at u = {u[-2]:g} it is "
      f"{naive[-2] / stable[-2]:.1f}x the true value); the stable form keeps them and is "
      f"exactly 0 at u = 0.")


# %%
def loss_and_grad(kind, z, ratio):
    """Mean loss over pairs, dloss/dz and the score s, for z: network outputs (B,)."""
    m = len(z)
    if kind == "l2_raw":
        s = z                                               # the output is the score
        loss, ds = ms.l2_loss(s, ratio)
        dz = ds
    elif kind == "l2_exp":
        s = np.exp(z)                                       # the score is positive
        loss, ds = ms.l2_loss(s, ratio)
        dz = ds * s                                         # chain rule: ds/dz = e^z = s
    elif kind == "score_entropy":
        s = np.exp(z)
        loss, dz = ms.score_entropy(z, ratio)               # takes log s = z directly
    else:
        raise ValueError(f"kind must be one of {sorted(ROWS)}, got {kind!r}")
    return loss / m, dz / m, s


r = RATIO[PAIR_X, PAIR_Y]                                   # (12,) the targets
for kind in ROWS:                                           # all three are minimal at s = r
    loss, dz, _ = loss_and_grad(kind, r if kind == "l2_raw" else np.log(r), r)
    print(f"{kind:14s} at s = r on the 12 pairs: loss {loss:.1e}, max |dloss/dz| "
          f"{np.abs(dz).max():.1e}")


# %% [markdown]
# A gradient derived by hand is checked before it is trusted: `ms.gradcheck` nudges every
# parameter of the network by +-h and compares the centred difference of the loss with the
# gradient from `loss_and_grad` followed by `MLP.backward`. A correct gradient gives a
# relative error of about 1e-11 to 1e-9 here, in float64 (we flag anything above 1e-6). A ReLU
# kink between the nudges could spoil one entry; with these inputs it does not happen.

# %%
check_rng = np.random.default_rng(0)
net = ms.MLP([2 * n, 32, 1], "relu", check_rng)
x = check_rng.choice(n, size=6, p=PROBS)
y = (x + check_rng.integers(1, n, size=6)) % n              # some y != x
f, r = features(x, y), RATIO[x, y]
gradcheck_err = {}
for kind in ROWS:
    out, cache = net.forward(f)
    _, dz, _ = loss_and_grad(kind, out[:, 0], r)
    _, grads = net.backward(dz[:, None], cache)
    gradcheck_err[kind] = ms.gradcheck(
        lambda **_: loss_and_grad(kind, net.forward(f)[0][:, 0], r)[0], net.params, grads,
        rng=0)
table(["loss", "relative error, hand chain rule + MLP.backward vs centred differences"],
      [(kind, f"{err:.1e}   (expect < 1e-6)") for kind, err in gradcheck_err.items()])

# %% [markdown]
# ## 3. Training
#
# One run: a fresh network from `seed`, then `steps` Adam steps. After every step we read the
# learned score of all 12 pairs, s(x, y), and its error
#
#     err = mean over the 12 pairs of |log s - log r|.
#
# A non-positive s (possible only for L2 on the raw output) has no logarithm: its error counts
# as infinite, and we keep track of such seeds separately. We repeat for `num_seeds` seeds
# (one seed can be lucky) and print the median error over seeds every `every` steps.

# %%
def learned_ratios(net, kind):
    """The (4, 4) matrix of learned scores s(x, y), NaN on the diagonal."""
    z = net.forward(features(PAIR_X, PAIR_Y))[0][:, 0]      # (12,)
    s = np.full((n, n), np.nan)
    s[PAIR_X, PAIR_Y] = z if kind == "l2_raw" else np.exp(z)
    return s


def log_error(s):
    """mean |log s - log r| over the 12 pairs; inf if some s <= 0."""
    v = s[PAIR_X, PAIR_Y]
    if (v <= 0).any():
        return np.inf
    return float(np.abs(np.log(v) - np.log(RATIO[PAIR_X, PAIR_Y])).mean())


def train_one(kind, seed, steps, batch_size, lr=1e-2):
    """Returns (scores (steps + 1, 4, 4) after 0..steps updates, errors (steps + 1,))."""
    rng = np.random.default_rng(seed)                       # same network and batches per seed
    net = ms.MLP([2 * n, 32, 1], "relu", rng)
    adam = ms.Adam(net.params, lr=lr)
    scores = [learned_ratios(net, kind)]
    for _ in range(steps):
        x = np.repeat(rng.choice(n, size=batch_size, p=PROBS), n - 1)  # (3B,) each x three times
        y = (x + np.tile(np.arange(1, n), batch_size)) % n            # (3B,) the three y != x
        out, cache = net.forward(features(x, y))
        _, dz, _ = loss_and_grad(kind, out[:, 0], RATIO[x, y])
        _, grads = net.backward(dz[:, None], cache)
        adam.step(grads)
        scores.append(learned_ratios(net, kind))
    scores = np.array(scores)
    return scores, np.array([log_error(s) for s in scores])


runs = {kind: [train_one(kind, seed, opt.steps, opt.batch_size) for seed in range(opt.num_seeds)]
        for kind in ROWS}
columns = list(range(0, opt.steps + 1, opt.every))
print(f"median over {opt.num_seeds} seeds of err = mean |log s - log r| (12 pairs):")
errors = {kind: np.array([e for _, e in runs[kind]]) for kind in ROWS}   # (seeds, steps + 1)
table(["loss"] + [f"step {k}" for k in columns],
      [[kind] + [float(np.median(errors[kind][:, k])) for k in columns] for kind in ROWS])

# %% [markdown]
# ## 4. At the last step
#
# Per loss: the median error over seeds (a seed with a non-positive s counts as inf, which
# the median handles), how many seeds end with a non-positive ratio, and how many pass
# through one during training (after step 0: a freshly initialized raw output is often
# negative, which says nothing yet). Splitting the error by the size of the target shows
# *where* each loss fails: 'err on r<1' / 'err on r>1' are medians over seeds and pairs of
# |log s - log r| for the 6 pairs with r < 1 and the 6 with r > 1.

# %%
small = RATIO[PAIR_X, PAIR_Y] < 1                           # the 6 targets below 1
results, rows = {}, []
for kind in ROWS:
    final = np.array([scores[-1][PAIR_X, PAIR_Y] for scores, _ in runs[kind]])   # (seeds, 12)
    median = float(np.median(errors[kind][:, -1]))
    bad_end = int((final <= 0).any(axis=1).sum())
    bad_any = int(np.isinf(errors[kind][:, 1:]).any(axis=1).sum())   # during training
    # per-pair errors (pairs with s <= 0 left out here; they are counted above)
    with np.errstate(invalid="ignore", divide="ignore"):
        pair_err = np.abs(np.log(np.where(final > 0, final, np.nan))
                          - np.log(RATIO[PAIR_X, PAIR_Y]))                   # (seeds, 12)
    results[kind] = {"median_err": median, "seeds_nonpositive": bad_end,
                     "seeds_nonpositive_during_training": bad_any,
                     "err_small_ratios": float(np.nanmedian(pair_err[:, small])),
                     "err_large_ratios": float(np.nanmedian(pair_err[:, ~small]))}
    rows.append((kind, median, f"{bad_end}/{opt.num_seeds}", f"{bad_any}/{opt.num_seeds}",
                 results[kind]["err_small_ratios"], results[kind]["err_large_ratios"]))
print(f"at step {opt.steps}:")
table(["loss", "median err", "seeds with s<=0", f"s<=0 at some step 1..{opt.steps}",
       "err on r<1", "err on r>1"], rows)
se, raw = results["score_entropy"]["median_err"], results["l2_raw"]["median_err"]
print(f"\nExpected: score entropy at or below 0.03 (got {se:.4f}); L2 raw at least 3x worse "
      f"(got {raw / se:.1f}x).")

# %% [markdown]
# ## 5. The figure
#
# Rows: the three losses. Columns: the true ratio matrix, then the learned one every `every`
# steps (seed 0). Row x, column y holds s(x, y); the diagonal is blank. All panels share one
# logarithmic color scale centred on 1; a non-positive s, which has no place on it, is drawn
# black and labelled.

# %%
norm = LogNorm(vmin=0.05, vmax=20.0)
cmap = matplotlib.colormaps["RdBu_r"]
ncols = len(columns) + 1
fig, axes = figure(len(ROWS), ncols + 1, figsize=(2.0 * ncols + 1.2, 2.4 * len(ROWS) + 0.6),
                   gridspec_kw=dict(width_ratios=[1] * ncols + [0.08]))
for i, kind in enumerate(ROWS):
    scores, errs = runs[kind][0]                            # seed 0
    panels = [("true r", RATIO, None)] + [(f"step {k}", scores[k], errs[k]) for k in columns]
    for j, (title, s, err) in enumerate(panels):
        ax = axes[i, j]
        shown = np.where(np.eye(n, dtype=bool) | ~(s > 0), np.nan, s)   # (4, 4)
        image = ax.imshow(shown, cmap=cmap, norm=norm)
        for a in range(n):
            for b in range(n):
                if a == b:
                    ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, color="0.9"))
                elif s[a, b] <= 0:
                    ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, color="k"))
                    ax.text(b, a, f"s ≤ 0\n{s[a, b]:.2g}", ha="center", va="center",
                            fontsize=6.5, color="yellow", fontweight="bold")
                else:
                    dark = abs(np.log10(s[a, b])) > 0.75
                    ax.text(b, a, f"{s[a, b]:.2g}", ha="center", va="center", fontsize=7,
                            color="w" if dark else "k")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.tick_params(labelsize=7, length=0)
        if err is None:
            ax.set_title(title, fontsize=9, fontweight="bold")
        else:
            ax.set_title(f"{title}\nerr {err:.3f}" if np.isfinite(err)
                         else f"{title}\nerr inf (some s ≤ 0)", fontsize=9)
        if j == 0:
            ax.set_ylabel(ROWS[kind] + "\n\nx", fontsize=9)
        if i == len(ROWS) - 1:
            ax.set_xlabel("y", fontsize=8)
grid = axes[0, -1].get_subplotspec().get_gridspec()
for i in range(len(ROWS)):
    axes[i, -1].remove()
bar = fig.colorbar(image, cax=fig.add_subplot(grid[:, -1]), extend="both")
bar.set_label("ratio s(x, y) (log scale; black: s ≤ 0)", fontsize=8)
bar.ax.tick_params(labelsize=7)
fig.suptitle("Learning r[x, y] = p(y)/p(x), p = [0.05, 0.15, 0.30, 0.50] (seed 0; "
             "err = mean |log s - log r| over the 12 pairs)", fontsize=10)
show_figure(fig, "03_sedd_vs_csm.png", opt)

# %% [markdown]
# ## 6. Why
#
# Write z for the network output and r for the target ratio; the three gradients with respect
# to z are 2 (s - r) (L2 raw, s = z), 2 (s - r) s (L2 on exp, s = e^z) and s - r (score
# entropy, s = e^z). The table below prints their sizes on the smallest and the largest
# target, r = 0.1 at (x, y) = (3, 0) and r = 10 at (0, 3), each multiplied by how often its x
# is drawn (p(x) = 0.5 and 0.05), at s = r/2 (50% too small) and s = r/100 (far too small).
#
# * **L2 on exp(output).** The factor s in 2 (s - r) s makes the gradient vanish as s -> 0:
#   a small target gets a small pull that keeps shrinking as s gets smaller, exactly where it
#   should grow. The large ratios pull about 1000 times harder than the small ones: at
#   s = r/2 the gradient is -r^2 / 2, 10^4 times larger at r = 10 than at r = 0.1, and
#   weighted by p(x), 0.05 against 0.5, that is 1000. The shared weights and Adam's step size
#   follow them. So the large ratios are learned and the small ones lag: compare 'err on r<1'
#   with 'err on r>1'.
# * **L2 on the raw output.** The gradient 2 (s - r) does not vanish, but nothing keeps s
#   positive: every seed passes through a negative "ratio" during training, which is not a
#   ratio of probabilities at all, and the log error is undefined there. The loss also counts
#   absolute errors: s = 0.13 for r = 0.1 costs as much as s = 10.03 for r = 10, yet one is
#   30% off and the other 0.3%. A good fit on the log scale needs absolute errors well below
#   the smallest ratio, which 100 steps do not reach, small or large ratio alike.
# * **Score entropy.** The gradient s - r does not vanish as s -> 0 (it tends to -r, pushing s
#   up), s = e^z is positive by construction, and weighted by how often each pair is drawn the
#   pull is p(x) (s - r) = p(y) (s / r - 1): a relative error times p(y), so the smallest and
#   the largest ratio are pulled within a factor 10 of each other. Its minimum is at s = r
#   exactly, with loss 0 (the K(r) term).

# %%
pairs = [(3, 0), (0, 3)]                                    # r = 0.1 and r = 10
px = np.array([a for a, _ in pairs])
pr = RATIO[px, [b for _, b in pairs]]
pull, rows = {}, []
for kind in ROWS:
    row = []
    for shrink in (2.0, 100.0):
        s = pr / shrink
        zz = s if kind == "l2_raw" else np.log(s)
        _, dz, _ = loss_and_grad(kind, zz, pr)
        row.extend((PROBS[px] * dz * len(zz)).tolist())     # undo the mean over the 2 pairs
    pull[kind] = row
    rows.append([kind] + [f"{v:.4g}" for v in row])
print("pull on the output, p(x) * dloss/dz, when s is too small:")
table(["loss", "r=0.1, s=r/2", "r=10, s=r/2", "r=0.1, s=r/100", "r=10, s=r/100"], rows)
print("L2 on exp: the small ratio is pulled ~1000x less than the large one, and less still as "
      "s -> 0.\nScore entropy and raw L2: a factor 10, and the pull does not vanish.")
