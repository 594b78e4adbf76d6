"""Lessons 04-05 run with tiny settings, and the claims they print hold at that size."""
import numpy as np
import pytest

LOG6 = np.log(6.0)


def quiet(*args, **kwargs):
    pass


def test_lesson_04_score_model_and_likelihood(lesson, tmp_path):
    out = lesson("04_score_model").main(steps=20, nodes=2, t_points=2, num_xt=60,
                                        fig_dir=tmp_path, show=quiet)
    # the score of ScoreMLP has self entry 1, and on the absorbing graph the masked scores sum
    # to exactly 1 / expm1(sigma_bar) (normalized parameterization)
    assert out["self_entry_max"] == 0.0
    assert out["normalized_sum_err"] < 1e-12
    # the posterior form (pi P)_y / (pi P)_{x_i} with the exact posterior is the exact ratio
    assert out["posterior_form_err"] < 1e-10
    # the hand backward pass of the whole model matches finite differences, every parameter
    for kind in ("absorbing", "uniform"):
        assert out["gradcheck"][kind] < 1e-6, kind
    # exact score: the bound is log 6 (absorbing: the integrand is linear in m, so any number
    # of nodes is exact; uniform with 2 nodes per panel: quadrature error below 1e-3)
    np.testing.assert_allclose(out["nelbo_exact"]["absorbing"], LOG6, atol=1e-9)
    np.testing.assert_allclose(out["nelbo_exact"]["uniform"], LOG6, atol=1e-3)
    # any model: the data's mean bound is at least the data entropy (a cross-entropy)
    for kind in ("absorbing", "uniform"):
        assert out["nelbo_model"][kind].mean() >= LOG6 - 1e-3, kind
        # the excess DSE of a model over the exact score, averaged over the data, is >= 0
        assert min(out["score_excess"][kind]) >= -1e-12, kind
        assert np.all(np.isfinite(out["score_log_error"][kind])), kind
    # absorbing DSE at masked positions is -log pi(x0) / expm1(sb); sigma / expm1(sb) = 1 / t
    assert out["ce_identity_err"] < 1e-12
    assert out["one_over_t_err"] < 1e-12
    for name in ("04_loss.png", "04_score_error.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_lesson_05_samplers(lesson, tmp_path):
    N = 300
    out = lesson("05_sampling").main(steps=20, num_samples=N, max_steps=4, fig_dir=tmp_path,
                                     show=quiet)
    assert out["steps_grid"] == [1, 2, 4]
    # absorbing graph + LogLinear: Euler and Tweedie take the same step, and so (with the same
    # random numbers) draw the same samples; on the uniform graph they differ
    assert out["same_step"]["absorbing"] < 1e-12
    assert out["same_step"]["uniform"] > 1e-3
    for who in ("exact", "trained"):
        assert out["tv"][f"absorbing/{who}/euler"] == out["tv"][f"absorbing/{who}/tweedie"]
    # exact score, Tweedie: at the sampling-noise floor from one step on (positions independent)
    floor = out["noise_floor"]
    assert 0.02 < floor < 0.1                       # about 0.05 for 300 samples
    for kind in ("absorbing", "uniform"):
        assert max(out["tv"][f"{kind}/exact/tweedie"]) < 3 * floor, kind
        assert min(out["inside"][f"{kind}/exact/tweedie"]) == 1.0, kind
        head = out["headline"][kind]
        assert head["num_samples"] == N and len(head["freq"]) == 6
        assert sum(head["freq"]) == pytest.approx(head["inside"])
    # two dependent sentences: one absorbing step unmasks subject and object independently,
    # so about half the samples mix them; many steps almost never do
    dep = out["dependence"]["absorbing"]
    assert abs(dep[1] - 0.5) < 0.15
    assert dep[4] < dep[1]
    assert (tmp_path / "05_tv_vs_steps.png").stat().st_size > 0
