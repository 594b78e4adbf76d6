"""Lessons 04-05 run as notebooks would, at quick settings, and the claims they print hold."""
import numpy as np
import pytest

from lessonrun import run_lesson

LOG6 = np.log(6.0)
KINDS = ("absorbing", "uniform")


def test_lesson_04_score_model_and_likelihood(tmp_path):
    out, printed = run_lesson("04_score_model", tmp_path)
    assert out["opt"].quick and not out["opt"].full_settings
    # the score of ScoreMLP has self entry 1, and on the absorbing graph the masked scores sum
    # to exactly 1 / expm1(sigma_bar) (normalized parameterization)
    assert out["self_entry_max"] == 0.0
    assert out["normalized_sum_err"] < 1e-12
    # the posterior-to-score map with the exact posterior is the exact ratio of marginals
    assert out["posterior_form_err"] < 1e-10
    # the first layer is a lookup: same numbers as the one-hot product, a scatter-add backward
    # that passes finite differences in float64 and cannot be checked in float32
    assert out["lookup_err"] < 1e-12 and out["scatter_err"] < 1e-12
    dW_rep = out["dW_rep"]
    assert dW_rep[0, 3, 0] == 2.0 and dW_rep[2, 5, 0] == 1.0 and dW_rep[0, 0, 0] == 0.0
    assert out["lookup_check"] < 1e-6
    assert out["float32_check"] > 1e-4
    # DSE = SE against the exact score + a constant that does not depend on the score
    for kind in KINDS:
        rows = [r for r in out["rows"] if r[0] == kind]
        (_, _, dse_exact, se_exact, c_exact), (_, _, dse_model, se_model, c_model) = rows[:2]
        assert abs(se_exact) < 1e-12 and se_model > 0.1 and dse_model > dse_exact
        assert abs(c_exact - c_model) < 1e-10, kind
    # the hand backward pass of the whole model matches finite differences, every parameter
    for kind in KINDS:
        assert out["gradcheck_error"][kind] < 1e-6, kind
    # training ran, and its loss fell from the first steps
    for kind in KINDS:
        hist = out["histories"][kind]
        assert hist.shape == (out["opt"].steps,) and hist[-3:].mean() < hist[:3].mean(), kind
    # the excess DSE of a model over the exact score, averaged over the data, is >= 0
    for kind in KINDS:
        assert np.min(out["score_excess"][kind]) >= -1e-12, kind
        assert np.all(np.isfinite(out["score_log_error"][kind])), kind
    # prior term: tiny at sigma_bar = 20 on the uniform graph, infinite for absorbing at 6.9
    prior = out["prior_rows"]
    assert 0.0 <= prior[0][2] < 1e-15 and prior[1][2] > 0.1 and prior[2][2] == np.inf
    # exact score: the bound is log 6 (absorbing: the integrand is linear in m, so any number
    # of nodes is exact; uniform with 1 node per panel: quadrature error 2.1e-3)
    assert out["opt"].nodes == 1
    np.testing.assert_allclose(out["nelbo_exact"]["absorbing"], LOG6, atol=1e-9)
    np.testing.assert_allclose(out["nelbo_exact"]["uniform"], LOG6, atol=3e-3)
    # any model: the data's mean bound is at least the data entropy (a cross-entropy)
    for kind in KINDS:
        assert out["nelbo_model"][kind].mean() >= LOG6 - 1e-3, kind
    # absorbing DSE at masked positions is -log pi(x0) / expm1(sb); sigma / expm1(sb) = 1 / t
    assert out["ce_identity_err"] < 1e-12
    assert out["one_over_t_err"] < 1e-12
    for name in ("04_loss.png", "04_score_error.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert printed.count("figure written to") == 2


def test_lesson_05_samplers(tmp_path):
    out, printed = run_lesson("05_sampling", tmp_path)
    N = out["opt"].num_samples
    assert out["steps_grid"].tolist() == [1, 2, 4]
    # absorbing graph + LogLinear: Euler and Tweedie take the same step, and so (with the same
    # random numbers) draw the same samples; on the uniform graph they differ
    assert out["same_step"]["absorbing"] < 1e-12
    assert out["same_step"]["uniform"] > 1e-3
    for who in ("exact", "trained"):
        assert out["tv"][("absorbing", who, "euler")] == out["tv"][("absorbing", who, "tweedie")]
    # the denoiser with the exact score is each position's posterior p(x0_i | x_t)
    for kind in KINDS:
        assert out["denoise_err"][kind] < 1e-12, kind
    # exact score, Tweedie: at the sampling-noise floor from one step on (positions independent)
    floor = out["noise_floor"]
    assert 0.02 < floor < 0.1                       # about 0.05 for 300 samples
    for kind in KINDS:
        assert max(out["tv"][(kind, "exact", "tweedie")]) < 3 * floor, kind
        assert min(out["inside"][(kind, "exact", "tweedie")]) == 1.0, kind
        head = out["headline"][kind]
        assert head["num_samples"] == N and len(head["freq"]) == 6
        assert sum(head["freq"]) == pytest.approx(head["inside"])
    # two dependent sentences: one absorbing step unmasks subject and object independently,
    # so about half the samples mix them; more steps mix fewer
    dep = out["dependence"]["absorbing"]
    assert abs(dep[1] - 0.5) < 0.15
    assert dep[4] < dep[1]
    # unequal weights, independent positions: one Euler step misses (the final denoiser keeps
    # every plausible word as often), one Tweedie step does not
    skew, floor = out["skew"], out["skew_floor"]
    assert skew["euler"][1] > 2.5 * floor and skew["tweedie"][1] < 2 * floor
    assert skew["euler"][max(skew["euler"])] < skew["euler"][1]
    assert (tmp_path / "05_tv_vs_steps.png").stat().st_size > 0
    assert "Euler" in printed
