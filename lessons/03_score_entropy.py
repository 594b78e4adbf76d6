"""Lesson 03: score entropy against L2 (concrete score matching), on one small problem.

What it teaches
    A network is asked to learn the ratios r[x, y] = p(y) / p(x) of a distribution over 4 tokens,
    p = [0.05, 0.15, 0.30, 0.50], from one-hot(x) and one-hot(y). Three ways to train it, with
    the real losses of minisedd and hand-derived gradients:
      1. L2 on the raw output, s = out        (concrete score matching; s may go negative)
      2. L2 on s = exp(out)                   (positive, but the gradient vanishes as s -> 0)
      3. score entropy on s = exp(out)        (SEDD: positive, and the gradient does not vanish)
    Score entropy learns all 12 ratios, small and large, to about 1% in 100 Adam steps. L2 on
    the raw output is about 10x worse and passes through negative "ratios" on the way; L2 on
    exp(output) lags on the small ratios. Section 5 says why (MATH.md section 4).

Run
    python lessons/03_score_entropy.py        (a few seconds; writes figures/03_sedd_vs_csm.png)
    python lessons/03_score_entropy.py --help

Setup (fixed, not tuned): network 8 -> 32 ReLU -> 1 (minisedd.nn.MLP, He initialization
N(0, 2 / fan_in), zero biases); Adam with lr 1e-2; each step draws 64 tokens x ~ p and pairs
every one with the 3 tokens y != x (192 pairs), and the loss is the mean over the pairs. Seeds
0..9; within a seed all three rows start from the same network and see the same batches.

What to expect
    The error of a row is the mean of |log s - log r| over the 12 pairs x != y. At step 100
    the median over 10 seeds is at or below 0.03 for score entropy, and at least 3x larger for
    L2 on the raw output. L2 on exp(output) learns the large ratios well and the small ones
    several times worse. Measured (10 seeds): 0.0059 for score entropy, 0.0652 for L2 raw,
    0.0373 for L2 on exp.
"""
# %%
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from minisedd import Adam, gradcheck, l2_loss, score_entropy  # noqa: E402
from minisedd.nn import MLP  # noqa: E402

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"

# %% [markdown]
# ## 1. The problem
# p is a distribution over 4 tokens. The concrete score of token x is the vector of ratios
# r[x, y] = p(y) / p(x). We learn the 12 off-diagonal ratios with a network that reads the
# pair (x, y) as one-hot(x) followed by one-hot(y): 8 inputs, 32 ReLU units, 1 output.
# Training pairs come the way they would in diffusion: draw x ~ p, and ask for s(x, y) at
# every y != x. So pairs starting at a rare x (p(x) = 0.05, where the ratios are large:
# 3, 6, 10) are seen 10 times less often than pairs starting at x = 3 (ratios 0.1, 0.3, 0.6).

# %%
P = np.array([0.05, 0.15, 0.30, 0.50])                      # the target distribution p
N = len(P)
RATIO = P[None, :] / P[:, None]                             # (4, 4): r[x, y] = p(y) / p(x)
PAIR_X, PAIR_Y = np.nonzero(~np.eye(N, dtype=bool))         # the 12 off-diagonal pairs
ROWS = {"l2_raw": "L2 on raw output\n(concrete score matching)",
        "l2_exp": "L2 on exp(output)",
        "score_entropy": "score entropy on exp(output)\n(SEDD)"}


def features(x, y):
    """one-hot(x) next to one-hot(y): int arrays (B,) -> (B, 8)."""
    f = np.zeros((len(x), 2 * N))
    f[np.arange(len(x)), x] = 1.0
    f[np.arange(len(x)), N + y] = 1.0
    return f


# %% [markdown]
# ## 2. Three losses, one network output z
# The engine's losses return (loss, gradient with respect to their first argument); the rest of
# the chain rule is ours.
#   * L2 raw:        s = z,      l = (s - r)^2,             dl/dz = 2 (s - r)
#   * L2 on exp:     s = e^z,    l = (s - r)^2,             dl/dz = dl/ds * ds/dz = 2 (s - r) e^z
#   * score entropy: s = e^z,    l = e^z - r z + K(r),      dl/dz = e^z - r
# Each loss is the mean over the pairs of a batch, so its gradient is divided by their number.

# %%
def loss_and_grad(kind, z, ratio):
    """Mean loss over pairs, dloss/dz and the score s, for z: network outputs (B,)."""
    m = len(z)
    if kind == "l2_raw":
        s = z                                               # the output is the score
        loss, ds = l2_loss(s, ratio)
        dz = ds
    elif kind == "l2_exp":
        s = np.exp(z)                                       # the score is positive
        loss, ds = l2_loss(s, ratio)
        dz = ds * s                                         # chain rule: ds/dz = e^z = s
    elif kind == "score_entropy":
        s = np.exp(z)
        loss, dz = score_entropy(z, ratio)                  # takes log s = z directly
    else:
        raise ValueError(f"kind must be one of {sorted(ROWS)}, got {kind!r}")
    return loss / m, dz / m, s


# %% [markdown]
# A gradient derived by hand is checked before it is trusted: `minisedd.gradcheck` nudges every
# parameter of the network by +-h and compares the centred difference of the loss with the
# gradient from loss_and_grad followed by MLP.backward. A correct gradient gives ~1e-9 (a ReLU
# kink between the nudges could spoil one entry; with these inputs it does not happen).

# %%
def check_gradients(show=print):
    rng = np.random.default_rng(0)
    net = MLP([2 * N, 32, 1], "relu", rng)
    x = rng.choice(N, size=6, p=P)
    y = (x + rng.integers(1, N, size=6)) % N                # some y != x
    f, r = features(x, y), RATIO[x, y]
    errors = {}
    for kind in ROWS:
        def loss_of_params():
            return loss_and_grad(kind, net.forward(f)[0][:, 0], r)[0]
        out, cache = net.forward(f)
        _, dz, _ = loss_and_grad(kind, out[:, 0], r)
        _, grads = net.backward(dz[:, None], cache)
        errors[kind] = gradcheck(lambda **_: loss_of_params(), net.params, grads)
    show("== Gradient check (hand chain rule + MLP.backward vs centred differences) ==")
    for kind, err in errors.items():
        show(f"{kind:14s} relative error {err:.1e}   (expect < 1e-6)")
    return errors


# %% [markdown]
# ## 3. Training
# One run: a fresh network from `seed`, then `steps` Adam steps. After every step we read the
# learned score of all 12 pairs, s(x, y), and its error
#     err = mean over the 12 pairs of |log s - log r|.
# A non-positive s (possible only for L2 on the raw output) has no logarithm: its error is
# counted as infinite, and we keep track of such seeds separately.

# %%
def learned_ratios(net, kind):
    """The (4, 4) matrix of learned scores s(x, y), NaN on the diagonal."""
    z = net.forward(features(PAIR_X, PAIR_Y))[0][:, 0]      # (12,)
    s = np.full((N, N), np.nan)
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
    net = MLP([2 * N, 32, 1], "relu", rng)
    opt = Adam(net.params, lr=lr)
    scores = [learned_ratios(net, kind)]
    for _ in range(steps):
        x = np.repeat(rng.choice(N, size=batch_size, p=P), N - 1)     # (3B,) each x three times
        y = (x + np.tile(np.arange(1, N), batch_size)) % N            # (3B,) the three y != x
        out, cache = net.forward(features(x, y))
        _, dz, _ = loss_and_grad(kind, out[:, 0], RATIO[x, y])
        _, grads = net.backward(dz[:, None], cache)
        opt.step(grads)
        scores.append(learned_ratios(net, kind))
    scores = np.array(scores)
    return scores, np.array([log_error(s) for s in scores])


# %% [markdown]
# ## 4. The figure
# Rows: the three losses. Columns: the true ratio matrix, then the learned one at steps
# 0, 20, ..., 100 (seed 0). Row x, column y holds s(x, y); the diagonal is blank. All panels
# share one logarithmic color scale centred on 1; a non-positive s, which has no place on it,
# is drawn black and labelled.

# %%
def plot(runs, columns, path):
    norm = LogNorm(vmin=0.05, vmax=20.0)
    cmap = plt.get_cmap("RdBu_r")
    fig, axes = plt.subplots(len(ROWS), len(columns) + 1,
                             figsize=(2.0 * (len(columns) + 1) + 1.2, 2.4 * len(ROWS) + 0.6))
    for i, kind in enumerate(ROWS):
        scores, errors = runs[kind]
        panels = [("true r", RATIO, None)] + [(f"step {k}", scores[k], errors[k]) for k in columns]
        for j, (title, s, err) in enumerate(panels):
            ax = axes[i, j]
            shown = np.where(np.eye(N, dtype=bool) | ~(s > 0), np.nan, s)   # (4, 4)
            image = ax.imshow(shown, cmap=cmap, norm=norm)
            for x in range(N):
                for y in range(N):
                    if x == y:
                        ax.add_patch(plt.Rectangle((y - 0.5, x - 0.5), 1, 1, color="0.9"))
                    elif s[x, y] <= 0:
                        ax.add_patch(plt.Rectangle((y - 0.5, x - 0.5), 1, 1, color="k"))
                        ax.text(y, x, f"s ≤ 0\n{s[x, y]:.2g}", ha="center", va="center",
                                fontsize=6.5, color="yellow", fontweight="bold")
                    else:
                        dark = abs(np.log10(s[x, y])) > 0.75
                        ax.text(y, x, f"{s[x, y]:.2g}", ha="center", va="center", fontsize=7,
                                color="w" if dark else "k")
            ax.set_xticks(range(N))
            ax.set_yticks(range(N))
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
    fig.suptitle("Learning r[x, y] = p(y)/p(x), p = [0.05, 0.15, 0.30, 0.50] (seed 0; "
                 "err = mean |log s - log r| over the 12 pairs)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.92, bottom=0.06, top=0.87, wspace=0.3, hspace=0.45)
    cax = fig.add_axes((0.94, 0.15, 0.012, 0.7))
    bar = fig.colorbar(image, cax=cax, extend="both")
    bar.set_label("ratio s(x, y) (log scale; black: s ≤ 0)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## 5. Why (MATH.md section 4)
# Write z for the network output and r for the target ratio; the three gradients with respect
# to z are 2 (s - r) (L2 raw, s = z), 2 (s - r) s (L2 on exp, s = e^z) and s - r (score
# entropy, s = e^z). Their sizes on the smallest and the largest target, r = 0.1 at (x, y) =
# (3, 0) and r = 10 at (0, 3), each multiplied by how often its x is drawn (p(x) = 0.5 and 0.05),
# are printed by `pull_table` below, at s = r/2 (50% too small) and s = r/100 (far too small).
#
# * **L2 on exp(output).** The factor s in 2 (s - r) s makes the gradient vanish as s -> 0:
#   a small target gets a small pull that keeps shrinking as s gets smaller, exactly where it
#   should grow. The large ratios pull about 1000 times harder than the small ones (their
#   gradient scales like r^2), and the shared weights and Adam's step size follow them. So the
#   large ratios are learned and the small ones lag: compare 'err on r<1' with 'err on r>1'.
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
def pull_table(show=print):
    """p(x) * dloss/dz for the smallest and largest ratio at s = r/2 and s = r/100."""
    pairs = [(3, 0), (0, 3)]                                # r = 0.1 and r = 10
    x = np.array([a for a, _ in pairs])
    r = RATIO[x, [b for _, b in pairs]]
    show("\n== Pull on the output, p(x) * dloss/dz, when s is too small ==")
    show(f"{'':16s}{'r=0.1, s=r/2':>14s}{'r=10, s=r/2':>14s}{'r=0.1, s=r/100':>16s}"
         f"{'r=10, s=r/100':>16s}")
    table = {}
    for kind in ROWS:
        row = []
        for shrink in (2.0, 100.0):
            s = r / shrink
            z = s if kind == "l2_raw" else np.log(s)
            _, dz, _ = loss_and_grad(kind, z, r)
            row.extend((P[x] * dz * len(z)).tolist())       # undo the mean over the 2 pairs
        table[kind] = [row[0], row[1], row[2], row[3]]
        show(f"{kind:16s}{row[0]:14.4g}{row[1]:14.4g}{row[2]:16.4g}{row[3]:16.4g}")
    show("L2 on exp: the small ratio is pulled ~1000x less than the large one, and less still as "
         "s -> 0.\nScore entropy and raw L2: a factor 10, and the pull does not vanish.")
    return table


# %% [markdown]
# ## 6. Over seeds
# One seed can be lucky. We repeat for `num_seeds` seeds and report, per row, the median error
# at the last step (a seed with a non-positive s counts as inf, which the median handles), how
# many seeds end with a non-positive ratio, and how many pass through one during training
# (after step 0: a freshly initialized raw output is often negative, which says nothing yet).
# Splitting the error by the size of the target shows *where* each loss fails.

# %%
def main(num_seeds=10, steps=100, batch_size=64, every=20, fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    num_seeds: seeds 0..num_seeds-1; steps: Adam steps per run; batch_size: tokens x per step
    (each paired with its 3 y != x); every: spacing of the figure's columns; fig_dir: where
    03_sedd_vs_csm.png goes; show: the print function.
    """
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = {"gradcheck": check_gradients(show)}
    columns = list(range(0, steps + 1, every))
    runs = {kind: [train_one(kind, seed, steps, batch_size) for seed in range(num_seeds)]
            for kind in ROWS}
    path = fig_dir / "03_sedd_vs_csm.png"
    plot({kind: runs[kind][0] for kind in ROWS}, columns, path)
    out["figure"] = str(path)

    small = RATIO[PAIR_X, PAIR_Y] < 1                       # the 6 targets below 1
    show(f"\n== Median over {num_seeds} seeds of err = mean |log s - log r| (12 pairs) ==")
    show(f"{'':16s}" + "".join(f"{'step ' + str(k):>10s}" for k in columns))
    for kind in ROWS:
        errors = np.array([e for _, e in runs[kind]])       # (seeds, steps + 1)
        show(f"{kind:16s}" + "".join(f"{np.median(errors[:, k]):10.4f}" for k in columns))
    show(f"\n== At step {steps} ==")
    show(f"{'':16s}{'median err':>11s}{'  seeds with s<=0':>17s}{'  at some step 1..' + str(steps):>21s}"
         f"{'  err on r<1':>13s}{'  err on r>1':>13s}")
    for kind in ROWS:
        final = np.array([scores[-1][PAIR_X, PAIR_Y] for scores, _ in runs[kind]])  # (seeds, 12)
        errors = np.array([e for _, e in runs[kind]])                             # (seeds, T)
        median = float(np.median(errors[:, -1]))
        bad_end = int((final <= 0).any(axis=1).sum())
        bad_any = int(np.isinf(errors[:, 1:]).any(axis=1).sum())   # during training
        # per-pair errors (pairs with s <= 0 left out here; they are counted above)
        with np.errstate(invalid="ignore", divide="ignore"):
            pair_err = np.abs(np.log(np.where(final > 0, final, np.nan))
                              - np.log(RATIO[PAIR_X, PAIR_Y]))                  # (seeds, 12)
        err_small = float(np.nanmedian(pair_err[:, small]))
        err_large = float(np.nanmedian(pair_err[:, ~small]))
        out[kind] = {"median_err": median, "seeds_nonpositive": bad_end,
                     "seeds_nonpositive_during_training": bad_any, "err_small_ratios": err_small,
                     "err_large_ratios": err_large,
                     "median_err_by_step": np.median(errors, axis=0)[columns].tolist()}
        show(f"{kind:16s}{median:11.4f}{bad_end:>11d}/{num_seeds}{bad_any:>18d}/{num_seeds}"
             f"{err_small:13.4f}{err_large:13.4f}")
    show("'err on r<1' / 'r>1': median over seeds and pairs of |log s - log r|, for the 6 pairs "
         "with r < 1\nand the 6 with r > 1. A seed with a non-positive s counts as err = inf in "
         "'median err'.")
    out["pull"] = pull_table(show)
    se, raw = out["score_entropy"]["median_err"], out["l2_raw"]["median_err"]
    out["raw_over_se"] = raw / se
    show(f"\nExpected: score entropy at or below 0.03 (got {se:.4f}); L2 raw at least 3x worse "
         f"(got {raw / se:.1f}x).")
    show(f"Figure: {path}")
    return out


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 03: score entropy against L2.")
    parser.add_argument("--num-seeds", type=int, default=10, help="seeds 0..num_seeds-1")
    parser.add_argument("--steps", type=int, default=100, help="Adam steps per run")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="tokens x ~ p per step; each is paired with the 3 tokens y != x")
    parser.add_argument("--every", type=int, default=20, help="steps between figure columns")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for 03_sedd_vs_csm.png")
    args = parser.parse_args()
    main(num_seeds=args.num_seeds, steps=args.steps, batch_size=args.batch_size,
         every=args.every, fig_dir=args.fig_dir)
