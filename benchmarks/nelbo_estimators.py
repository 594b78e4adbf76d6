"""Benchmark: the two Monte Carlo estimates of SEDD's bound on the absorbing graph, side by side.

`nelbo(method="mc")` draws the level m uniformly and a noisy row; `nelbo(method="mc_masks")`
draws the number of masked positions, which ones, and then m given them (lesson 10 derives it).
Both estimate the same bound. This script measures, on a trained model of the surnames (a
`ScoreMLP` or `ScoreTransformer` checkpoint on the absorbing graph, e.g. one kept by lesson 10
or 11 with `--models-dir DIR`):

1. spread: the test bound in nats per character with `--draws` draws per name, once per seed
   for `--seeds` seeds, by each method: the mean over seeds, the spread (standard deviation)
   over seeds, and the mean of the standard error each run prints. An honest printed error is
   close to the spread;
2. agreement: both methods with `--many` draws per name on the first `--many-names` test
   names: the two must agree within their errors.

Run
    python benchmarks/nelbo_estimators.py --model DIR/transformer_absorbing.npz   (a few minutes)
    python benchmarks/nelbo_estimators.py --model DIR/sedd_absorbing.npz --quick  (seconds)
"""
import argparse
import time

import numpy as np

import minisedd as ms
from minisedd.cli import NETWORKS

METHODS = ("mc", "mc_masks")


def load(path):
    """A ScoreMLP or ScoreTransformer checkpoint, by its format tag (as the command line does)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            tag = str(f["format"]) if "format" in f.files else None
    except (OSError, ValueError) as err:
        raise ValueError(f"--model {path}: not a readable .npz checkpoint ({err})") from None
    if tag not in NETWORKS:
        raise ValueError(f"--model {path}: not a ScoreMLP or ScoreTransformer checkpoint "
                         f"(format tag {tag!r})")
    return NETWORKS[tag].load(path)


def per_char(model, noise, rows, chars, method, draws, seed):
    """(bound per character, its printed standard error) of the rows."""
    bound, stderr = ms.nelbo(model, noise, rows, method=method, num_samples=draws, rng=seed)
    return bound.sum() / chars, np.sqrt(np.sum(stderr ** 2)) / chars


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint on the absorbing graph")
    parser.add_argument("--seeds", type=int, default=8, help="seeds of the spread measurement")
    parser.add_argument("--draws", type=int, default=4, help="draws per name of each run")
    parser.add_argument("--names", type=int, default=8880, help="test names of each run")
    parser.add_argument("--many", type=int, default=512, help="draws per name, agreement")
    parser.add_argument("--many-names", type=int, default=300, help="test names, agreement")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    opt = parser.parse_args()
    if opt.quick:
        opt.seeds, opt.names, opt.many, opt.many_names = 3, 500, 32, 50
    model = load(opt.model)
    corpus = ms.surnames()
    if model.graph.kind != "absorbing" or model.length != corpus.length:
        raise ValueError(f"--model must be a surnames model on the absorbing graph (length "
                         f"{corpus.length}), got graph {model.graph.kind!r}, length {model.length}")
    _, noise = ms.problem("absorbing", corpus.n_clean)
    print(f"{type(model).__name__} from {opt.model}")

    rows = corpus.test[:opt.names]
    chars = corpus.n_chars(rows).sum()
    print(f"\n1. spread: the test bound of {len(rows)} names ({chars} characters), {opt.draws} "
          f"draws per name, seeds 10..{9 + opt.seeds}")
    for method in METHODS:
        start = time.perf_counter()
        runs = np.array([per_char(model, noise, rows, chars, method, opt.draws, seed)
                         for seed in range(10, 10 + opt.seeds)])
        print(f"  {method:8s} mean {runs[:, 0].mean():.4f}  spread over seeds "
              f"{runs[:, 0].std(ddof=1):.4f}  mean printed error {runs[:, 1].mean():.4f}  "
              f"(readings {', '.join(f'{v:.4f}' for v in runs[:, 0])}; "
              f"{time.perf_counter() - start:.0f} s)")

    rows = corpus.test[:opt.many_names]
    chars = corpus.n_chars(rows).sum()
    print(f"\n2. agreement: {opt.many} draws per name on the first {len(rows)} test names")
    for method in METHODS:
        start = time.perf_counter()
        value, err = per_char(model, noise, rows, chars, method, opt.many, 7)
        print(f"  {method:8s} {value:.4f} +- {err:.4f} nats/char "
              f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    with ms.blas_threads():
        main()
