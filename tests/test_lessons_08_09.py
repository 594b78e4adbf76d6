"""Lessons 08-09 run with tiny settings, and the claims they print hold at that size."""
import numpy as np
import pytest


def quiet(*args, **kwargs):
    pass


def test_lesson_08_dependencies(lesson, tmp_path):
    out = lesson("08_dependencies").main(num_samples=200, num_other=100, steps_grid=(1, 2, 16),
                                         train_steps=30, hidden=16, batch_size=32, num_train=300,
                                         nelbo_draws=16, fig_dir=tmp_path, show=quiet)
    # the grammar check accepts the two sentences and rejects the two broken agreements
    assert out["is_grammatical_examples"] == [True, False, False, True]
    # the per-position sampler's validity is (3/4)^3 + (1/4)^3, and one reverse step with the
    # exact score is that sampler (200 draws: standard error 0.035)
    assert out["p_factorized"] == pytest.approx(0.4375, abs=1e-12)
    assert abs(out["valid_factorized"] - 0.4375) < 0.15
    assert abs(out["valid_one_step"] - 0.4375) < 0.15
    # on the uniform graph the final denoiser repairs the odd word out
    assert out["valid_one_step_uniform"] >= 0.99
    # Euler and Tweedie take the same step on the absorbing graph with LogLinear
    assert out["same_step"] < 1e-12
    # more steps repair agreement (16 steps: ~0.97 expected)
    exact = out["curves"]["exact/tweedie"]
    assert out["steps_grid"] == [1, 2, 16] and len(exact) == 3
    assert exact[-1] > 0.9 and exact[-1] > exact[0] + 0.3
    assert out["curves"]["exact/euler"][-1] > out["curves"]["exact/euler"][0] + 0.3
    # generalization numbers: -log p references lie between the two sentence probabilities,
    # and no model beats the entropy of the distribution it was trained on
    gen = out["generalization"]
    for split in ("train", "heldout"):
        assert np.log(128 / 0.75) - 1e-12 <= gen[split]["neg_log_p"] <= np.log(128 / 0.25) + 1e-12
        assert np.isfinite(gen[split]["nelbo"]) and gen[split]["se"] > 0
    assert 0.1 < out["p_heldout"] < 0.3
    assert out["log_p_train"] == pytest.approx(np.log(1 - out["p_heldout"]))
    floor = gen["train"]["neg_log_p"] + out["log_p_train"]        # entropy of the train split
    assert gen["train"]["nelbo"] > floor - 4 * gen["train"]["se"]
    comp = out["composition"]
    assert sum(comp.values()) == pytest.approx(1.0) and min(comp.values()) >= 0
    for name in ("08_validity_vs_steps.png", "08_generalization.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_lesson_09_infilling(lesson, tmp_path):
    out = lesson("09_infilling").main(num_samples=300, num_uniform=150, num_model=40, steps=16,
                                      train_steps=20, fig_dir=tmp_path, show=quiet)
    sizes = {"prefix": 4, "suffix": 4, "middle": 8}
    for name, size in sizes.items():
        a = out["absorbing"][name]
        assert a["support_size"] == size
        # absorbing graph, exact score: the given words stay, every infill is a sentence, and
        # the TV is at the sampling-noise level (about 0.04-0.06 for 300 draws, spread ~0.02;
        # clamping on the uniform graph gives ~0.3 for the suffix and middle)
        assert a["held"] and a["valid"] == 1.0
        assert 0.02 < out["noise_floor"][name] < 0.08
        assert a["tv"] < 0.15
        # given the number, the blanks are independent: one step is as good
        assert out["one_step"][name]["tv"] < 0.15
        # the control (the conditional's own exact score) has no gap on the uniform graph
        assert out["control"][name]["valid"] == 1.0 and out["control"][name]["held"]
        assert out["uniform"][name]["held"]
    # number left open: one step breaks the blanks' agreement, more steps repair it
    agree = out["blanks_agree"]
    assert agree[1]["valid"] < 0.65 and agree[16]["valid"] > 0.85
    # uniform graph with clamping: two given plural words win (prefix); one given word loses
    # to two free words a quarter of the time (suffix, middle)
    assert out["uniform"]["prefix"]["valid"] > 0.95
    for name in ("suffix", "middle"):
        assert out["uniform"][name]["valid"] < 0.9
        assert out["uniform"][name]["tv"] > out["control"][name]["tv"] + 0.05
    assert out["contrast"]["suffix, singular verb"]["valid"] > 0.9
    assert set(out["model"]) == set(sizes)
    assert (tmp_path / "09_infilling.png").stat().st_size > 0
