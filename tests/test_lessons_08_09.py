"""Lessons 08-09 run top to bottom at quick settings, and the claims they print hold."""
import numpy as np
import pytest

from lessonrun import run_lesson


def test_lesson_08_dependencies(tmp_path):
    g, printed = run_lesson("08_dependencies", tmp_path)
    assert g["opt"].quick and not g["opt"].full_settings
    # the grammar check accepts the two sentences and rejects the two broken agreements
    assert g["grammatical_examples"].tolist() == [True, False, False, True]
    # the per-position sampler's validity is exactly (3/4)^3 + (1/4)^3, and one reverse step
    # with the exact score is that sampler (100 draws: standard error 0.05)
    assert g["p_factorized"] == pytest.approx(0.4375, abs=1e-12)
    assert abs(g["valid_factorized"] - 0.4375) < 0.15
    assert abs(g["valid_one_step"] - 0.4375) < 0.15
    # on the uniform graph the final denoiser repairs the odd word out
    assert g["valid_one_step_uniform"] >= 0.99
    # ... by majority of three words, plural with probability 10/64 instead of 1/4
    N = g["opt"].num_other
    assert abs(g["plural_one_step_uniform"] - 10 / 64) < 4 * np.sqrt(10 / 64 * 54 / 64 / N)
    # at t = 0.5 about half of the words are masked, the rest are the clean words
    x0, x_mid = g["x0_mid"], g["x_mid"]
    masked = x_mid == g["graph"].mask_id
    assert abs(masked.mean() - 0.5) < 0.05 and (x_mid[~masked] == x0[~masked]).all()
    # more steps repair agreement (16 steps: ~0.97 expected)
    curves = g["curves"]
    assert g["steps_grid"] == (1, 16) and set(curves) == {
        "exact/tweedie", "exact/euler", "model/tweedie", "model/euler"}
    exact = curves["exact/tweedie"]
    assert exact[-1] > 0.9 and exact[-1] > exact[0] + 0.3
    assert curves["exact/euler"][-1] > curves["exact/euler"][0] + 0.3
    # generalization: -log p references lie between the two sentence probabilities, and no
    # model beats the entropy of the distribution it was trained on
    gen = g["generalization"]
    for split in ("train", "heldout"):
        assert np.log(128 / 0.75) - 1e-12 <= gen[split]["neg_log_p"] <= np.log(128 / 0.25) + 1e-12
        assert np.isfinite(gen[split]["nelbo"]) and gen[split]["se"] > 0
    assert 0.1 < g["p_heldout"] < 0.3
    assert g["log_p_train"] == pytest.approx(np.log(1 - g["p_heldout"]))
    floor = gen["train"]["neg_log_p"] + g["log_p_train"]          # entropy of the train split
    assert gen["train"]["nelbo"] > floor - 4 * gen["train"]["se"]
    comp = g["composition"]
    assert sum(comp.values()) == pytest.approx(1.0) and min(comp.values()) >= 0
    # both figures are written (here to tmp_path) and the verdict is printed
    for name in ("08_validity_vs_steps.png", "08_generalization.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "Verdict: exact score, 16 Tweedie steps" in printed


def test_lesson_09_infilling(tmp_path):
    g, printed = run_lesson("09_infilling", tmp_path)
    assert g["opt"].quick and not g["opt"].full_settings
    sizes = {"prefix": 4, "suffix": 4, "middle": 8}
    for name, size in sizes.items():
        a = g["absorbing"][name]
        assert len(a["probs"]) == size and a["probs"].sum() == pytest.approx(1.0)
        # absorbing graph, exact score: the given words stay, every infill is a sentence, and
        # the TV is at the sampling-noise level (about 0.05-0.08 for 200 draws; clamping on
        # the uniform graph gives ~0.3 for the suffix and middle)
        assert a["held"] and a["valid"] == 1.0
        assert 0.02 < g["noise_floor"][name] < 0.1
        assert a["tv"] < 0.15
        # given the number, the blanks are independent: one step is as good
        assert g["one_step"][name]["tv"] < 0.15
        # the control (the conditional's own exact score) has no gap on the uniform graph
        assert g["control"][name]["valid"] == 1.0 and g["control"][name]["held"]
        assert g["uniform"][name]["held"]
    # number left open: one step breaks the blanks' agreement, more steps repair it
    agree = g["blanks_agree"]
    assert agree[1]["valid"] < 0.65 and agree[8]["valid"] > 0.85
    # the likelihood ratio of a clamped word on the uniform graph: 1 + n / expm1(sigma_bar),
    # the quotient of two entries of the kernel P = expm(sigma_bar Q)
    graph_u, noise_u = g["graph_u"], g["noise_u"]
    for t in (1.0, 0.8, 0.6, 0.2):
        P = graph_u.transition(float(noise_u.total(t)))
        assert g["evidence_ratio"](t) == pytest.approx(P[0, 0] / P[1, 0], rel=1e-9)
    assert g["evidence_ratio"](1.0) < 1.001 and 4.5 < g["evidence_ratio"](0.8) < 5.5
    # uniform graph with clamping: two given plural words win (prefix); one given word loses
    # to two free words a quarter of the time (suffix, middle)
    assert g["uniform"]["prefix"]["valid"] > 0.95
    for name in ("suffix", "middle"):
        assert g["uniform"][name]["valid"] < 0.9
        assert g["uniform"][name]["tv"] > g["control"][name]["tv"] + 0.05
    assert g["contrast"]["suffix, singular verb"]["valid"] > 0.9
    assert set(g["model_results"]) == set(sizes)
    assert (tmp_path / "09_infilling.png").stat().st_size > 0
    assert "Verdict: absorbing graph, exact score" in printed
