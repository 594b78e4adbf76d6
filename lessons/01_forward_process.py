"""Lesson 01: the forward process -- how a token, and a sentence, is turned into noise.

What it teaches
    * A rate matrix Q (row convention: Q[x, y] is the rate of jumping x -> y, rows sum to 0)
      for the two graphs SEDD uses: Uniform (jump anywhere) and Absorbing (jump to [MASK]).
    * The transition kernel P = expm(sigma_bar Q), where sigma_bar(t) is the total noise of a
      schedule; P[x0, x] = p(x_t = x | x_0 = x0). Both graphs have closed forms, and they agree
      with scipy's expm to rounding error; every row of P sums to 1.
    * A sentence of the toy corpus ("I love NLP .") diffusing under each graph: each position
      is noised independently with the same kernel.

Run
    python lessons/01_forward_process.py      (a few seconds; writes figures/01_forward_process.png)
    python lessons/01_forward_process.py --help

What to expect
    The closed forms match expm to ~1e-16 and rows sum to 1 to ~1e-16. Under the uniform graph
    with Geometric(1e-4, 20) the sentence is intact until t ~ 0.6 and is random words at t = 1;
    under the absorbing graph with LogLinear a word is masked with probability (1 - eps) t, so
    about half the words are [MASK] at t = 0.5 and all of them at t = 1. Noising step by step
    (a Markov chain) gives the same marginals as one jump with the kernel: the simulated
    frequencies in the figure sit on the exact curves, within sampling noise.
"""
# %%
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minisedd import (TOY_VOCAB, Absorbing, Geometric, Graph, LogLinear, Uniform,  # noqa: E402
                      decode, encode)

# figures/ beside lessons/; opened as a notebook (no __file__), the folder is the working one
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FIG_DIR = (HERE.parent if HERE.name == "lessons" else HERE) / "figures"
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Rate matrices
# A continuous-time Markov chain on n tokens is described by its rate matrix Q. In the row
# convention used throughout minisedd, Q[x, y] >= 0 (y != x) is the rate at which token x
# jumps to token y, and the diagonal makes every row sum to 0: Q[x, x] = -(rate of leaving x).
#
# * Uniform(n): Q = 11^T / n - I. Every token jumps to every token at rate 1/n.
# * Absorbing(n): the last token is [MASK]; every other token jumps to it at rate 1, and
#   [MASK] never leaves (its row is all zeros).


# %%
def show_rate_matrices(show=print):
    show("== 1. Rate matrices (row x = from, column y = to) ==")
    for graph in (Uniform(4), Absorbing(4)):
        show(f"{graph!r}: Q =\n{graph.Q + 0.0}")             # + 0.0 turns -0. into 0.
        show(f"  row sums: {graph.Q.sum(axis=1)}")


# %% [markdown]
# ## 2. The transition kernel P = expm(sigma_bar Q)
# The chain runs with time-dependent rates sigma(t) Q. Its total noise by time t is
# sigma_bar(t) = integral of sigma from 0 to t, and the probability of being at x at time t
# having started at x0 is P[x0, x] with P = expm(sigma_bar(t) Q). The matrix exponential is
# the general definition, valid for any rate matrix.
#
# For our two graphs it has a closed form (MATH.md section 1):
#   Uniform:   P = e^{-sb} I + (1 - e^{-sb}) 11^T / n
#   Absorbing: P[x, x] = e^{-sb}, P[x, MASK] = 1 - e^{-sb}, P[MASK, MASK] = 1
# `Uniform` and `Absorbing` use these closed forms, while `Graph(Q)` (any rate matrix) uses
# scipy.linalg.expm, so building Graph(g.Q) from the same Q compares the two.


# %%
def check_kernels(show=print):
    """Closed form vs expm, row sums, one entry by hand, and P(a) P(b) = P(a + b)."""
    show("\n== 2. Kernel: closed form against expm ==")
    out = {}
    sbs = np.array([1e-4, 0.1, 1.0, 5.0, 20.0])           # sigma_bar values to test
    for graph in (Uniform(4), Absorbing(4), Uniform(8), Absorbing(9)):
        closed = graph.transition(sbs)                      # (5, n, n), closed form
        general = Graph(graph.Q).transition(sbs)            # (5, n, n), scipy expm
        diff = float(np.abs(closed - general).max())
        row_err = float(np.abs(closed.sum(axis=2) - 1.0).max())
        out[f"expm_diff_{graph.kind}{graph.n}"] = diff
        out[f"row_sum_err_{graph.kind}{graph.n}"] = row_err
        show(f"{graph!r:24s} max |closed form - expm| = {diff:.1e}   "
             f"max |row sum - 1| = {row_err:.1e}   min entry = {closed.min():.1e}")
    out["expm_diff_max"] = max(v for k, v in out.items() if k.startswith("expm_diff_"))
    out["row_sum_err_max"] = max(v for k, v in out.items() if k.startswith("row_sum_err_"))
    show(f"(sigma_bar in {sbs.tolist()})")

    # One entry by hand, so the formula is not taken on trust: the uniform kernel at
    # sigma_bar = 1 keeps a token with probability e^{-1} + (1 - e^{-1}) / 4.
    P = Uniform(4).transition(1.0)
    show(f"\nUniform(4) at sigma_bar = 1:\n{P}")
    show(f"  P[0, 0] = {P[0, 0]:.6f};  by hand e^-1 + (1 - e^-1)/4 = "
         f"{np.exp(-1) + (1 - np.exp(-1)) / 4:.6f}")
    show(f"Absorbing(4) at sigma_bar = 1 (MASK = 3):\n{Absorbing(4).transition(1.0)}")

    # Noising by a and then by b is noising by a + b: P(a) P(b) = P(a + b). This is the Markov
    # property, and it is why a sentence can be noised step by step (section 3).
    a, b = 0.3, 1.7
    out["semigroup_err"] = max(
        float(np.abs(g.transition(a) @ g.transition(b) - g.transition(a + b)).max())
        for g in (Uniform(8), Absorbing(9)))
    show(f"\nmax |P(0.3) P(1.7) - P(2.0)| over Uniform(8) and Absorbing(9) = "
         f"{out['semigroup_err']:.1e}")
    return out


# %% [markdown]
# ## 3. A sentence diffusing
# The toy corpus has a 9-word vocabulary (MATH.md section 7). The uniform graph works on the
# first 8 words (no [MASK]) with the Geometric(1e-4, 20) schedule; the absorbing graph adds
# [MASK] (n = 9) with the LogLinear schedule. Each position is noised independently with the
# same kernel.
#
# Two copies of "I love NLP ." are noised step by step along the listed times: from t_k to
# t_{k+1} each position takes one draw from P(sigma_bar(t_{k+1}) - sigma_bar(t_k)). By the
# Markov property each row is then a draw from P_t[x0, .], the marginal at that t. Note that
# the geometric schedule starts at sigma_bar(0) = 1e-4, not 0.

# %%
SETUPS = {"uniform": (Uniform(8), Geometric(1e-4, 20.0)),
          "absorbing": (Absorbing(9), LogLinear(1e-3))}
SENTENCE = "I love NLP ."


def diffuse_sentence(rng, show=print):
    show(f"\n== 3. '{SENTENCE}' diffusing (two copies, noised step by step) ==")
    x0 = encode(SENTENCE)                                   # (4,) token ids
    times = np.array([0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    out = {}
    for kind, (graph, noise) in SETUPS.items():
        sbs = noise.total(times)                            # sigma_bar(t) at each listed t
        show(f"\n{graph!r} with {noise!r}")
        show(f"{'t':>5s} {'sigma_bar':>10s} {'P(word kept)':>13s}   {'copy 1':28s} copy 2")
        show(f"{'clean':>5s} {0.0:10.4f} {1.0:13.4f}   {decode(x0):28s} {decode(x0)}")
        x = np.tile(x0, (2, 1))                             # (2, 4): two copies of the sentence
        prev = 0.0
        rows = []
        for t, sb in zip(times, sbs):
            x = graph.sample_transition(x, sb - prev, rng)  # one more step of noise
            prev = sb
            kept = graph.transition(sb)[x0[0], x0[0]]       # P[x, x]: a word is unchanged
            words = decode(x)
            rows.append((float(t), float(sb), float(kept), words))
            show(f"{t:5.2f} {sb:10.4f} {kept:13.4f}   {words[0]:28s} {words[1]}")
        out[kind] = rows
    show("\nLook at: under the uniform graph a word is rarely replaced before t ~ 0.6 (P(word kept) "
         "> 0.87);\nthen the words become random ones (P(word kept) -> 1/8, the limit is uniform over "
         "8 words).\nUnder the absorbing graph words turn into [MASK] at a steady pace (P(masked) = "
         "(1 - eps) t),\nand a word is never replaced by a wrong one.")
    return out


# %% [markdown]
# ## 4. The marginal of one position against t
# For the word "NLP" (position 2) we plot P(x_t = v | x0 = NLP) for every token v, stacked, as
# t goes from 0 to 1: the exact curves from the kernel. On top, dots: the fraction of
# `num_paths` copies noised step by step (as in section 3) that still read "NLP". If the
# step-by-step chain and the kernel agree, the dots sit on the top edge of the NLP band.

# %%
def plot_marginals(rng, num_paths, num_times, path, show=print):
    pos = 2
    x0 = encode(SENTENCE)[pos]                              # the word "NLP"
    t_grid = np.linspace(0.0, 1.0, 201)
    t_path = np.linspace(0.0, 1.0, num_times)
    colors = plt.cm.tab10(np.arange(10))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    out = {}
    for ax, (kind, (graph, noise)) in zip(axes, SETUPS.items()):
        marg = graph.transition(noise.total(t_grid))[:, x0, :]   # (201, n): P_t[NLP, v]
        # the clean word at the bottom ([MASK] next on the absorbing graph), then the others;
        # tokens that can never appear (the other words on the absorbing graph) are left out
        order = [x0] + ([graph.mask] if kind == "absorbing" else [])
        order += [v for v in range(graph.n) if v not in order and marg[:, v].max() > 0]
        ax.stackplot(t_grid, marg[:, order].T, labels=[TOY_VOCAB[v] for v in order],
                     colors=[colors[v % 10] for v in order], alpha=0.85)
        x = np.full((num_paths, 1), x0)                     # (num_paths, 1) copies of "NLP"
        prev, freq = 0.0, []
        for sb in noise.total(t_path):                      # noise step by step
            x = graph.sample_transition(x, sb - prev, rng)
            prev = sb
            freq.append(float((x == x0).mean()))
        exact = graph.transition(noise.total(t_path))[:, x0, x0]
        out[kind] = float(np.abs(np.array(freq) - exact).max())
        ax.plot(t_path, freq, "ko", ms=4, label=f"simulated: still 'NLP'\n({num_paths} paths)")
        ax.set_title(f"{graph!r} with {noise!r}\nP(x_t = v | x_0 = NLP), stacked", fontsize=10)
        ax.set_xlabel("t")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="center left", fontsize=8, framealpha=0.9)
    axes[0].set_ylabel("probability (stacked)")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.11, top=0.88, wspace=0.15)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    bound = 3.0 * np.sqrt(0.25 / num_paths)                 # 3 standard deviations at worst (p = 1/2)
    show(f"\n== 4. Step-by-step simulation against the kernel ({num_paths} paths, "
         f"{num_times} times) ==")
    for kind, dev in out.items():
        show(f"{kind:10s} max |simulated - exact| of P(x_t = NLP) = {dev:.4f}   "
             f"(sampling noise: 3 sd <= {bound:.4f})")
    show(f"Figure: {path}")
    return out, bound


# %%
def main(num_paths=2000, num_times=21, seed=0, fig_dir=FIG_DIR, show=print):
    """Run the lesson; returns a dict of the numbers it prints.

    num_paths: copies of the word "NLP" noised step by step for the figure; num_times: noise
    levels along each path; seed: random seed; fig_dir: where 01_forward_process.png goes;
    show: the print function.
    """
    rng = np.random.default_rng(seed)
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    show_rate_matrices(show)
    out = check_kernels(show)
    out["sentences"] = diffuse_sentence(rng, show)
    out["path_max_dev"], out["path_noise_bound"] = plot_marginals(
        rng, num_paths, num_times, fig_dir / "01_forward_process.png", show)
    out["figure"] = str(fig_dir / "01_forward_process.png")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Lesson 01: the forward process.")
    parser.add_argument("--num-paths", type=int, default=2000,
                        help="copies of the word 'NLP' noised step by step for the figure")
    parser.add_argument("--num-times", type=int, default=21,
                        help="noise levels along each step-by-step path")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--fig-dir", type=pathlib.Path, default=FIG_DIR,
                        help="directory for 01_forward_process.png")
    args = parser.parse_args()
    main(num_paths=args.num_paths, num_times=args.num_times, seed=args.seed, fig_dir=args.fig_dir)
