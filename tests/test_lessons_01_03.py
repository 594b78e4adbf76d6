"""Lessons 01-03 run with tiny settings, and the claims they print hold at that size."""
import numpy as np
import pytest


def quiet(*args, **kwargs):
    pass


def test_lesson_01_kernels_and_diffusion(lesson, tmp_path):
    out = lesson("01_forward_process").main(num_paths=300, num_times=6, fig_dir=tmp_path,
                                            show=quiet)
    # closed forms equal expm, rows sum to 1, P(a) P(b) = P(a + b)
    assert out["expm_diff_max"] < 1e-12
    assert out["row_sum_err_max"] < 1e-12
    assert out["semigroup_err"] < 1e-12
    # noising step by step matches the kernel within sampling noise
    for kind in ("uniform", "absorbing"):
        assert out["path_max_dev"][kind] <= out["path_noise_bound"]
    # under the absorbing graph every word is either the clean one or [MASK], and all are
    # masked at t = 1; the uniform sentence at t = 0 (sigma_bar = 1e-4) is still clean
    clean = "I love NLP .".split()
    for t, sb, kept, copies in out["sentences"]["absorbing"]:
        for sentence in copies:
            assert all(w in (c, "[MASK]") for w, c in zip(sentence.split(), clean))
    assert all(s == " ".join(["[MASK]"] * 4) for s in out["sentences"]["absorbing"][-1][3])
    assert out["sentences"]["uniform"][0][3] == ["I love NLP ."] * 2
    assert (tmp_path / "01_forward_process.png").stat().st_size > 0


def test_lesson_02_exact_score_and_reverse_process(lesson, tmp_path):
    mod = lesson("02_concrete_score")
    out = mod.main(evolve_steps=500, num_samples=3000, sample_steps=16, fig_dir=tmp_path,
                   show=quiet)
    # ExactScore of a one-token distribution is the direct ratio p_t(y) / p_t(x)
    assert out["ratio_rel_diff"]["uniform"] < 1e-12
    assert out["ratio_rel_diff"]["absorbing"] < 1e-12
    for kind in ("uniform", "absorbing"):
        ev = out["evolve"][kind]
        # the evolved distribution stays a distribution, follows p_t, and recovers p0
        assert ev["min_q"] >= 0.0 and ev["worst_h_rate"] <= 1.0
        assert ev["tv_path_max"] < 2e-3
        assert ev["tv_to_p0"] < 1e-3
        np.testing.assert_allclose(ev["recovered"], mod.P0, atol=1e-3)
        # Tweedie samples with the exact score: TV to p0 within a few times sampling noise
        assert out["sample"][f"{kind}_tweedie"]["tv"] < 4 * out["sample"]["expected_tv"]
    # on the absorbing graph (LogLinear) the masked mass shrinks like t: started at 1 at t = 1,
    # it is t_end = 1e-4 at the end (the forward process has (1 - eps) t_end masked)
    assert out["evolve"]["absorbing"]["masked_left"] == pytest.approx(1e-4, rel=1e-6)
    assert (tmp_path / "02_concrete_score.png").stat().st_size > 0


def test_lesson_03_score_entropy_beats_l2(lesson, tmp_path):
    out = lesson("03_score_entropy").main(num_seeds=3, steps=100, every=50, fig_dir=tmp_path,
                                          show=quiet)
    # the hand chain rule through each loss and the MLP matches finite differences
    for kind, err in out["gradcheck"].items():
        assert err < 1e-6, kind
    se, raw, l2exp = out["score_entropy"], out["l2_raw"], out["l2_exp"]
    assert se["median_err"] <= 0.03
    assert raw["median_err"] >= 3 * se["median_err"]
    assert se["seeds_nonpositive"] == 0 and se["seeds_nonpositive_during_training"] == 0
    # L2 on exp(output) lags on the small ratios, where its gradient vanishes
    assert l2exp["err_small_ratios"] > 3 * se["err_small_ratios"]
    assert l2exp["err_small_ratios"] > l2exp["err_large_ratios"]
    # the pull table: L2 on exp pulls a small ratio ~1000x less than a large one, SE 10x
    pull = out["pull"]
    assert pull["l2_exp"][1] / pull["l2_exp"][0] == pytest.approx(1000.0)
    assert pull["score_entropy"][1] / pull["score_entropy"][0] == pytest.approx(10.0)
    assert (tmp_path / "03_sedd_vs_csm.png").stat().st_size > 0
