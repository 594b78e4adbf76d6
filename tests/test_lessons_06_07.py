"""Lessons 06-07 (the seed's two demos) run end to end at tiny size and keep their claims.

With the exact score the claims are exact (every one-step prediction and every sample is a
training sentence, recovery is ~1 at small noise and ~1/6 at t = 1); with a briefly trained
model the lessons must still run, write their figures and report consistent numbers.
"""
import numpy as np
import pytest

import minisedd as ms


def quiet(*args):
    pass


@pytest.fixture
def lesson06(lesson):
    return lesson("06_one_step_demo")


@pytest.fixture
def lesson07(lesson):
    return lesson("07_masked_demo")


def binomial_ok(rate, p, n, z=4.0):
    """rate is within z standard errors of p for n Bernoulli(p) trials."""
    return abs(rate - p) <= z * np.sqrt(p * (1 - p) / n)


def test_06_exact_score_one_step_predictions(lesson06, tmp_path):
    lines = []
    out = lesson06.main(score="exact", num_inputs=400, num_shown=3, levels=(0.2, 0.8),
                        fig_dir=tmp_path, show=lines.append)
    curve = out["curve"]
    assert list(curve["t"]) == [0.2, 0.8, 1.0]                  # t = 1 is always measured
    # the exact posterior only ever puts weight on tokens a training sentence has there
    assert out["valid_draw"] == 1.0 and out["valid_argmax"] == 1.0
    assert (curve["valid_exact_draw"] == 1.0).all()
    # at t = 1 the posterior is the data distribution: draws hit all six sentences
    assert out["distinct_draw"] == 6
    # little noise: the input is recovered; t = 1: a guess from the data, 1/6
    assert curve["recovered_exact_draw"][0] >= 0.98
    assert binomial_ok(curve["recovered_exact_draw"][-1], 1 / 6, 400)
    # the "model" is the exact score, and its draws share the random numbers: no gap at all
    assert out["max_gap"] == 0.0
    assert out["passed"] and "PASS" in lines[-1]
    assert (tmp_path / "06_one_step.png").stat().st_size > 10_000


def test_06_table_rows_are_the_seed_table(lesson06, tmp_path):
    lines = []
    out = lesson06.main(score="exact", num_inputs=50, num_shown=4, levels=(0.5,),
                        fig_dir=tmp_path, show=lines.append)
    table = out["table"]
    assert table["x_T"].shape == (4, 4) and table["drawn"].shape == (4, 4)
    for k in range(4):   # each printed row shows the noise and the prediction, decoded
        row = next(line for line in lines if line.startswith(f"| {k} "))
        assert ms.decode(table["x_T"][k]) in row and ms.decode(table["drawn"][k]) in row


def test_06_briefly_trained_model_runs_and_recovers_at_small_noise(lesson06, tmp_path):
    out = lesson06.main(train_steps=300, num_inputs=200, num_shown=2, levels=(0.2,),
                        fig_dir=tmp_path, show=quiet)
    curve = out["curve"]
    # at sigma_bar ~ 1e-3 almost nothing moved: even a short-trained denoiser gives x0 back
    assert curve["recovered_model_draw"][0] >= 0.9
    assert 0.0 <= out["valid_draw"] <= 1.0
    assert np.isclose(out["freq_draw"].sum(), out["valid_draw"])
    assert out["passed"] == (out["valid_draw"] >= lesson06.MIN_VALID)
    assert (tmp_path / "06_one_step.png").exists()


def test_07_exact_score_samples_follow_the_data(lesson07, tmp_path):
    lines = []
    out = lesson07.main(score="exact", num_samples=2000, steps=16, fig_dir=tmp_path,
                        show=lines.append)
    assert out["distinct_shown"] > 1                              # not the seed's one sentence
    assert (out["freq"] > 0).all() and (out["freq_one_step"] > 0).all()
    assert out["valid"] == 1.0 and out["valid_one_step"] == 1.0
    # TV at N = 2000 is sampling noise only (about 0.02); the issue asks <= 0.05 at N = 4000
    assert out["tv"] <= 0.05 and out["tv_one_step"] <= 0.05
    assert out["passed"] and "PASS" in lines[-1]
    # the seed's decoding: argmax of the one-step denoiser from all-[MASK] is ONE sentence
    assert ms.empirical(out["argmax"][None], ms.TOY_SENTENCES)[1] == 1.0
    assert (tmp_path / "07_masked_demo.png").stat().st_size > 10_000


def test_07_briefly_trained_model_runs_and_reports_consistently(lesson07, tmp_path):
    out = lesson07.main(train_steps=200, num_samples=300, steps=8, num_shown=5,
                        fig_dir=tmp_path, show=quiet)
    assert out["shown"].shape == (5, 4)
    assert np.isclose(out["freq"].sum(), out["valid"])
    # sample_tv counts samples outside the corpus fully: TV >= half of what falls outside
    assert out["tv"] >= 0.5 * (1 - out["valid"]) - 1e-12
    assert out["passed"] == all(out["checks"].values())
    assert (tmp_path / "07_masked_demo.png").exists()
