"""Lesson 10's samples scored by a judge that wrote none of them: lesson 11's causal transformer.

    python tools/cross_judge.py --l10 DIR10 --l11 DIR11 [--samples 4000] [--seed 0]   (2.5 min)

The paper scores the samples of GPT-2 and of SEDD with GPT-2 large, a larger model that wrote
neither. Lesson 10 scores them with MADE (which wrote MADE's samples: self-scoring) and with
its 5-gram; lesson 11's causal transformer, a better model of the names than both (test NLL
2.126 nats per character against MADE's 2.210 and the 5-gram's 2.168), is the judge closest to
the paper's. DIR10 and DIR11 are the --models-dir folders of full runs of lessons 10 and 11
(made.npz and sedd_absorbing.npz; causal.npz): this script trains nothing but the 5-gram.

It prints, per character (letters + end, as lesson 10 counts), the NLL of real test names,
of MADE's samples (T = 1), of SEDD's samples at 1 to 256 Tweedie steps and in the random-order
limit of many steps (lesson 10, section 8), under each of the three judges, with standard
errors over the samples (malformed samples, a letter after the end, are left out and counted,
as in lesson 10), then SEDD - MADE under each judge. Last, the comparison of lesson 10's
section 8 at equal variety, under each judge: SEDD's random-order sampler at temperatures
0.85 to 1 (its own nats, a lower bound on its entropy, corrected for the malformed samples as
lesson 10 does) read at the entropy of MADE's samples at T = 1, per name, by ms.equal_variety.
"""
import argparse
import pathlib
import sys

import numpy as np

import minisedd as ms


def per_char(nats, rows, corpus):
    """(nats per character, its standard error over the rows: the ratio estimator's)."""
    T = corpus.n_chars(rows)
    r = np.sum(nats) / T.sum()
    return float(r), float(np.sqrt(np.sum((nats - r * T) ** 2)) / T.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--l10", required=True, help="lesson 10's --models-dir")
    parser.add_argument("--l11", required=True, help="lesson 11's --models-dir")
    parser.add_argument("--samples", type=int, default=4000, help="samples per sampler")
    parser.add_argument("--variety-samples", type=int, default=10000,
                        help="samples per temperature for the equal-variety reading")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 1 and 4 steps, 500 test names, T = 0.9 and 1")
    opt = parser.parse_args(argv)
    l10, l11 = pathlib.Path(opt.l10), pathlib.Path(opt.l11)
    for path in (l10 / "made.npz", l10 / "sedd_absorbing.npz", l11 / "causal.npz"):
        if not path.is_file():
            sys.exit(f"cross_judge: {path} not found: run the lesson with --models-dir first")

    corpus = ms.surnames()
    made = ms.MADE.load(l10 / "made.npz")
    sedd = ms.ScoreMLP.load(l10 / "sedd_absorbing.npz")
    causal = ms.CausalTransformer.load(l11 / "causal.npz")
    gram = ms.NGram(5, corpus.n_clean).fit(corpus.train)
    _, noise = ms.problem("absorbing", corpus.n_clean)
    judges = {"MADE": lambda x: -made.log_likelihood(x),
              "5-gram": lambda x: -gram.log_prob(x),
              "causal transformer": lambda x: -causal.log_likelihood(x)}

    def score(label, x):
        ok = corpus.is_wellformed(x)
        row = {"sampler": label, "malformed": 1.0 - ok.mean()}
        for name, nats in judges.items():
            row[name] = per_char(nats(x[ok]), x[ok], corpus)
        return row

    N, rows = opt.samples, []
    rows.append(score("real test names", corpus.test[:500] if opt.quick else corpus.test))
    rows.append(score("MADE, T = 1", made.sample(N, rng=np.random.default_rng([opt.seed, 0]))))
    for steps in (1, 4) if opt.quick else (1, 4, 16, 64, 256):
        x = ms.sample(sedd, noise, N, steps=steps, rng=np.random.default_rng([opt.seed, 1, steps]))
        rows.append(score(f"SEDD, {steps} steps", x))
    x, _ = ms.sample_in_random_order(sedd, noise, N, rng=np.random.default_rng([opt.seed, 2]))
    rows.append(score("SEDD, random order", x))

    print(f"NLL per character (letters + end) of {N} samples per sampler, +- standard error")
    names = list(judges)
    print(f"{'sampler':22s} {'malformed':>9s}  " + "  ".join(f"{n:>22s}" for n in names))
    for row in rows:
        print(f"{row['sampler']:22s} {row['malformed']:9.3f}  " + "  ".join(
            f"{row[n][0]:14.3f} +- {row[n][1]:.3f}" for n in names))
    made_row = rows[1]
    print("SEDD - MADE, +- the standard error of the difference (independent samples)")
    for row in rows[2:]:
        print(f"{row['sampler']:22s} {'':9s}  " + "  ".join(
            f"{row[n][0] - made_row[n][0]:+14.3f} +- "
            f"{np.hypot(row[n][1], made_row[n][1]):.3f}" for n in names))

    # equal variety (lesson 10, section 8): per name; entropies from the samplers' own nats
    M = opt.variety_samples

    def sample_set(x, own_nats, judge):
        ok = corpus.is_wellformed(x)          # malformed rows left out, entropy corrected
        return own_nats[ok] + np.log(ok.mean()), judges[judge](x[ok])

    variety_rng = np.random.default_rng([opt.seed, 3])
    x_made = made.sample(M, rng=variety_rng)
    own_made = -made.log_likelihood(x_made)
    curve_draws = []
    temperatures = (0.9, 1.0) if opt.quick else (0.85, 0.9, 0.95, 1.0)
    for T in temperatures:
        x, nats = ms.sample_in_random_order(
            sedd, noise, M, rng=np.random.default_rng([opt.seed, 4, round(1000 * T)]),
            temperature=T)
        curve_draws.append((T, x, nats))
    print(f"at equal variety, per name ({M} samples per point): SEDD's curve over T = "
          f"{temperatures[0]}-1 read at the entropy of MADE's samples (T = 1, "
          f"{own_made.mean():.3f} nats), "
          f"minus MADE's NLL; +- bootstrap standard error")
    for judge in names:
        reading = ms.equal_variety([sample_set(x, nats, judge) for _, x, nats in curve_draws],
                                   sample_set(x_made, own_made, judge),
                                   rng=np.random.default_rng([opt.seed, 5]))
        text = ("MADE's entropy is outside SEDD's curve" if reading is None else
                f"{reading.difference:+.3f} +- {reading.stderr:.3f} nats per name "
                f"({reading.inside} of 200 resamples read)")
        print(f"  under {judge:20s} {text}")


if __name__ == "__main__":
    main()
