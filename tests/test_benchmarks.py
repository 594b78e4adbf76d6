"""The benchmark scripts run (benchmarks/; smoke tests at their --quick sizes), and so does
tools/cross_judge.py, on tiny untrained models.

Claims checked: nelbo_estimators.py measures both Monte Carlo methods on a kept absorbing
model and prints a spread and an agreement line for each, and refuses a model on another graph
with a message that names --model. The script runs in this process, as `python script.py`
would run it (runpy, as __main__), which spares the tests a second start of Python.
"""
import contextlib
import io
import pathlib
import runpy
import sys

import numpy as np
import pytest

import minisedd as ms

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "nelbo_estimators.py"


def run_on_fresh_model(kind, tmp_path):
    """Run the script --quick on an untrained surnames ScoreMLP of graph `kind`; what it printed."""
    corpus = ms.surnames()
    graph, _ = ms.problem(kind, corpus.n_clean)
    path = tmp_path / f"{kind}.npz"
    ms.ScoreMLP(graph, corpus.length, hidden=16, rng=0).save(path)
    old_argv, out = sys.argv, io.StringIO()
    sys.argv = [str(SCRIPT), "--model", str(path), "--quick"]
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(SCRIPT), run_name="__main__")
    finally:
        sys.argv = old_argv
    return out.getvalue()


def test_nelbo_estimators_measures_both_methods(tmp_path):
    lines = run_on_fresh_model("absorbing", tmp_path).splitlines()
    for method in ("mc", "mc_masks"):
        spread = [ln for ln in lines if ln.split()[:1] == [method] and "spread" in ln]
        agree = [ln for ln in lines if ln.split()[:1] == [method] and "nats/char" in ln]
        assert len(spread) == 1 and len(agree) == 1, lines
        value = float(agree[0].split()[1])
        assert np.isfinite(value) and value > 0


def test_nelbo_estimators_refuses_another_graph(tmp_path):
    with pytest.raises(ValueError, match="--model must be a surnames model on the absorbing"):
        run_on_fresh_model("uniform", tmp_path)


def test_cross_judge_scores_every_sampler_under_three_judges(tmp_path, capsys):
    """tools/cross_judge.py on tiny untrained models: a row per sampler, a number per judge, and
    the differences to MADE's samples; a missing model file is named."""
    sys.path.insert(0, str(SCRIPT.parents[1] / "tools"))
    try:
        import cross_judge
    finally:
        sys.path.pop(0)
    corpus = ms.surnames()
    L, n = corpus.length, corpus.n_clean
    graph, _ = ms.problem("absorbing", n)
    (tmp_path / "l10").mkdir()
    (tmp_path / "l11").mkdir()
    ms.MADE(n, L, hidden=8, depth=1, rng=0).save(tmp_path / "l10" / "made.npz")
    ms.ScoreMLP(graph, L, hidden=8, depth=1, rng=0).save(tmp_path / "l10" / "sedd_absorbing.npz")
    ms.CausalTransformer(n, L, d_model=8, n_heads=2, n_layers=1, rng=0,
                         end_id=0).save(tmp_path / "l11" / "causal.npz")
    cross_judge.main(["--l10", str(tmp_path / "l10"), "--l11", str(tmp_path / "l11"),
                      "--samples", "20", "--variety-samples", "40", "--quick"])
    printed = capsys.readouterr().out
    for label in ("real test names", "MADE, T = 1", "SEDD, 1 steps", "SEDD, 4 steps",
                  "SEDD, random order"):
        assert printed.count(label) >= 1
    numbers = [line for line in printed.splitlines() if line.count(" +- ") == 3]
    assert len(numbers) == 5 + 3        # test names, MADE, 3 SEDD rows; 3 differences to MADE
    assert "at equal variety, per name (40 samples per point)" in printed
    assert sum(line.startswith("  under ") for line in printed.splitlines()) == 3
    with pytest.raises(SystemExit, match="causal.npz not found"):
        cross_judge.main(["--l10", str(tmp_path / "l10"), "--l11", str(tmp_path)])
