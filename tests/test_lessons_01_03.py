"""Lessons 01-03 run top to bottom at quick settings, and the claims they print hold."""
import numpy as np
import pytest

from minisedd.notebook import figure_path, repository_figures
from lessonrun import run_lesson


def test_lesson_01_kernels_schedules_and_diffusion(tmp_path):
    g, printed = run_lesson("01_forward_process", tmp_path)
    # closed forms equal expm, rows sum to 1, P(a) P(b) = P(a + b)
    assert g["expm_diff_max"] < 1e-12
    assert g["row_sum_err_max"] < 1e-12
    assert g["semigroup_err"] < 1e-12
    # each schedule's rate is the derivative of its total noise; LogLinear masks (1 - eps) t
    for kind in ("uniform", "absorbing"):
        assert g["rate_rel_err"][kind] < 1e-6
    assert g["masked_err"] < 1e-12
    # noising step by step matches the kernel within sampling noise
    for kind in ("uniform", "absorbing"):
        assert g["path_max_dev"][kind] <= g["path_noise_bound"]
    # under the absorbing graph every word is either the clean one or [MASK], and all are
    # masked at t = 1; the uniform sentence at t = 0 (sigma_bar = 1e-4) is still clean
    clean = "I love NLP .".split()
    for t, sb, kept, copies in g["sentences"]["absorbing"]:
        for sentence in copies:
            assert all(w in (c, "[MASK]") for w, c in zip(sentence.split(), clean))
    assert all(s == " ".join(["[MASK]"] * 4) for s in g["sentences"]["absorbing"][-1][3])
    assert g["sentences"]["uniform"][0][3] == ["I love NLP ."] * 2
    # the legend lists the stacked bands from the top one down (then the simulated dots)
    for ax, bottom, top in zip(g["axes"], ["NLP", "NLP"], [".", "[MASK]"]):
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels[0] == top and labels[-2] == bottom and labels[-1].startswith("simulated")
    assert (tmp_path / "01_forward_process.png").stat().st_size > 0
    assert "max |simulated - exact|" in printed


def test_lesson_02_exact_score_and_reverse_process(tmp_path):
    g, printed = run_lesson("02_concrete_score", tmp_path)
    PROBS0 = g["PROBS0"]
    # ExactScore of a one-token distribution is the direct ratio p_t(y) / p_t(x)
    assert g["ratio_rel_diff"]["uniform"] < 1e-12
    assert g["ratio_rel_diff"]["absorbing"] < 1e-12
    for kind in ("uniform", "absorbing"):
        ev = g["evolved"][kind]
        # the evolved distribution stays a distribution, follows p_t, and recovers p0
        assert ev["min_q"] >= 0.0 and ev["worst_h_rate"] <= 1.0
        assert ev["tv_path_max"] < 2e-3
        assert ev["tv_to_p0"] < 1e-3
        np.testing.assert_allclose(ev["recovered"], PROBS0, atol=1e-3)
        # Tweedie samples with the exact score: TV to p0 within a few times sampling noise
        assert g["sampled"][f"{kind}_tweedie"]["tv"] < 4 * g["expected_tv"]
    # on the absorbing graph (LogLinear) the masked mass shrinks like t: started at 1 at t = 1,
    # it is t_end = 1e-4 at the end (the forward process has (1 - eps) t_end masked)
    assert g["evolved"]["absorbing"]["masked_left"] == pytest.approx(1e-4, rel=1e-6)
    # absorbing + LogLinear: Euler and Tweedie take the same steps, so draw the same tokens
    np.testing.assert_array_equal(g["sampled"]["absorbing_euler"]["freq"],
                                  g["sampled"]["absorbing_tweedie"]["freq"])
    # the figure: two rows of two panels and a right panel spanning both rows
    assert len(g["fig"].axes) == 5
    assert g["fig"].axes[-1].get_subplotspec().rowspan == range(0, 2)
    assert (tmp_path / "02_concrete_score.png").stat().st_size > 0
    assert "TV to p0" in printed


def test_lesson_03_score_entropy_beats_l2(tmp_path):
    g, printed = run_lesson("03_score_entropy", tmp_path)
    # the stable form is exactly 0 at the minimum and accurate right next to it
    assert g["stable"][-1] == 0.0
    np.testing.assert_allclose(g["stable"][:-1], 10.0 * g["u"][:-1] ** 2 / 2, rtol=1e-2)
    # the hand chain rule through each loss and the MLP matches finite differences
    for kind, err in g["gradcheck_err"].items():
        assert err < 1e-6, kind
    res = g["results"]
    se, raw, l2exp = res["score_entropy"], res["l2_raw"], res["l2_exp"]
    assert se["median_err"] <= 0.03
    assert raw["median_err"] >= 3 * se["median_err"]
    assert se["seeds_nonpositive"] == 0 and se["seeds_nonpositive_during_training"] == 0
    # L2 on exp(output) lags on the small ratios, where its gradient vanishes
    assert l2exp["err_small_ratios"] > 3 * se["err_small_ratios"]
    assert l2exp["err_small_ratios"] > l2exp["err_large_ratios"]
    # the pull table: L2 on exp pulls a small ratio ~1000x less than a large one, SE 10x
    pull = g["pull"]
    assert pull["l2_exp"][1] / pull["l2_exp"][0] == pytest.approx(1000.0)
    assert pull["score_entropy"][1] / pull["score_entropy"][0] == pytest.approx(10.0)
    assert (tmp_path / "03_sedd_vs_csm.png").stat().st_size > 0
    # quick settings never write the committed figure, even without --fig-dir
    opt = g["opt"]
    assert opt.quick and not opt.full_settings
    opt.fig_dir = None
    assert figure_path("03_sedd_vs_csm.png", opt).parent != repository_figures()
    assert "Expected: score entropy" in printed
