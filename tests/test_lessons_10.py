"""Lesson 10 (real data: surnames) runs end to end with tiny settings, and its measurements are
consistent: every quantity the lesson compares is computed the way the lesson says."""
import numpy as np
import pytest

import minisedd as ms

from lessonrun import run_lesson

TINY = ["--names", "1000", "--max-order", "3", "--hidden", "16", "--depth", "1",
        "--made-steps", "20", "--sedd-steps", "20", "--eval-every", "20", "--valid-names", "100",
        "--batch-size", "64",
        "--valid-draws", "2", "--test-draws", "2", "--gen-samples", "10", "--gen-steps", "1,4",
        "--entropy-samples", "40", "--iw-names", "50", "--iw-growth", "2,4", "--iw-orders", "2",
        "--prompt-samples", "6", "--prompt-steps", "4"]


def test_lesson_10_real_names(tmp_path):
    # one test that runs the lesson once: pytest-xdist would run a shared fixture once per
    # worker that picks up one of several tests
    names, printed = run_lesson("10_real_names", tmp_path,
                                argv=TINY + ["--models-dir", str(tmp_path / "models")])
    lesson10 = (names, printed, tmp_path)
    check_data_and_baselines(lesson10)
    check_models_are_selected_on_validation_and_compared_at_equal_size(lesson10)
    check_sample_quality_and_prompts(lesson10)
    check_equal_variety(lesson10)
    check_models_dir(lesson10)


def check_data_and_baselines(lesson10):
    g, printed, _ = lesson10
    corpus = g["corpus"]
    assert corpus.length == 14 and corpus.n_clean == 27
    assert len(g["train_rows"]) == len(g["test_rows"]) == 1000
    # the n-gram table: a bigram beats a unigram on held-out names, and the order the
    # validation split chooses is the one with the lowest validation NLL
    valid = [row[1] for row in g["ngram_rows"]]
    assert valid[1] < valid[0] and g["best_order"] == 1 + int(np.argmin(valid))
    # nats per character: total nats over letters + end markers, the same as the model's own
    made, rows = g["made"], g["test_rows"]
    assert g["made_test"] == pytest.approx(made.nll_per_char(rows), rel=1e-9)
    assert g["per_char"](-g["best_ngram"].log_prob(rows), rows) == pytest.approx(
        g["best_ngram"].nll_per_char(rows), rel=1e-12)


def check_models_are_selected_on_validation_and_compared_at_equal_size(lesson10):
    g, printed, fig_dir = lesson10
    hist = g["made_hist"]
    assert hist["best_valid_nll"] == pytest.approx(hist["valid_nll"].min())
    for curve, best in ((g["curve_abs"], g["best_abs"]), (g["curve_uni"], g["best_uni"])):
        assert best == curve["step"][int(np.argmin(curve["valid"]))]
        assert np.all(curve["stderr"] > 0) and np.all(np.isfinite(curve["valid"]))
    # MADE and the SEDD model it is compared with: parameter counts within 10%
    ratio = g["sedd_abs"].num_params() / g["made"].num_params()
    assert 0.9 < ratio < 1.1
    # the two Monte Carlo estimates of one bound agree, and "mc_masks" has the smaller error
    (mc, mc_err), (masks, masks_err) = g["estimates"]["mc"], g["estimates"]["mc_masks"]
    assert 0 < masks_err < mc_err and abs(mc - masks) < 4 * np.hypot(mc_err, masks_err)
    # test bounds come with a Monte Carlo standard error; exact likelihoods with none
    assert g["abs_err"] > 0 and g["uni_err"] > 0 and np.isfinite(g["abs_test"])
    assert [c[0] for c in g["claims"]][0].startswith("SEDD absorbing bound < best n-gram")
    assert printed.count("[yes]") + printed.count("[NO ]") == len(g["claims"]) + len(
        g["iw_claims"]) + len(g["equal_variety_claims"])
    # section 9: the order bound per character is the total of its per-name values, and the
    # growth list has one finite value per K asked for
    assert g["iw_test"] == pytest.approx(g["per_char"](g["iw_nats"], g["test_rows"]), rel=1e-12)
    assert [k for k, _ in g["growth"]] == [2, 4] and all(np.isfinite(v) for _, v in g["growth"])
    for name in ("10_validation.png", "10_mc_tail.png", "10_gen_nll.png"):
        assert (fig_dir / name).stat().st_size > 0


def check_sample_quality_and_prompts(lesson10):
    g, _, _ = lesson10
    gen = g["gen"]
    assert [r["steps"] for r in gen if r["model"] == "SEDD absorbing"] == [1, 4]
    for r in gen + [g["gen_made"], g["gen_ngram"]]:
        assert 0 <= r["malformed"] <= 1 and 0 <= r["real"] <= 1 and 0 <= r["novel"] <= 1
    assert g["gen_made"]["malformed"] == 0            # ancestral samples always end well
    # every set of samples is scored by MADE and by the best n-gram, each with its error
    # (which needs two well-formed samples at least; MADE's and the n-gram's always are)
    for r in gen + [g["gen_made"], g["gen_ngram"]]:
        if (1.0 - r["malformed"]) * g["opt"].gen_samples >= 2:
            assert np.isfinite(r["gen_nll"]) and np.isfinite(r["ngram_nll"])
            assert r["gen_err"] > 0 and r["ngram_err"] > 0
    for r in (g["gen_made"], g["gen_ngram"]):
        assert r["gen_err"] > 0 and r["ngram_err"] > 0
    # a curve meets a level from the first number of steps after which it stays at or below it
    meet = g["first_meeting"]
    steps = (1, 4, 16)
    assert meet(steps, np.array([3.0, 2.0, 2.0]), 2.5) == 4
    assert meet(steps, np.array([2.0, 2.0, 2.0]), 2.5) == 1
    assert meet(steps, np.array([2.0, 2.0, 3.0]), 2.5) is None
    with pytest.raises(ValueError, match="one value per step"):
        meet(steps, np.array([2.0, 3.0]), 2.5)
    # section 8: NLL = entropy + KL for both samplers, on their well-formed samples, per
    # character and per name; MADE's entropy is its own samples' NLL under itself (estimated
    # directly), SEDD's the lower bound from each sample's own writing order
    made_parts, sedd_parts = g["made_parts"], g["sedd_parts"]
    for d in (made_parts, sedd_parts):
        assert d["nll"] == pytest.approx(d["entropy"] + d["kl"], rel=1e-12)
        mean = {key: d["per_name"][key][0] for key in ("nll", "entropy", "kl")}
        assert mean["nll"] == pytest.approx(mean["entropy"] + mean["kl"], rel=1e-12)
        assert mean["nll"] == pytest.approx(d["nll"] * d["chars"], rel=1e-12)
        assert d["entropy"] > 0 and d["entropy_err"] > 0 and d["kl_err"] > 0
    assert sedd_parts["is_bound"] and not made_parts["is_bound"]
    assert made_parts["samples"] == g["opt"].entropy_samples >= sedd_parts["samples"] > 0
    assert made_parts["entropy"] == pytest.approx(made_parts["under_made"], rel=1e-12)
    corpus, prompted = g["corpus"], g["prompted"]
    # held characters stay; after the prompt the row is padding
    for prompt, x in prompted.items():
        held = [i for i, ch in enumerate(prompt) if ch != "_"]
        expect = corpus.encode(prompt.replace("_", "a"))
        assert np.array_equal(x[:, held], np.broadcast_to(expect[held], (len(x), len(held))))
        assert np.all(x[:, len(prompt):] == 0)
    words = corpus.decode(prompted["____son"][corpus.is_wellformed(prompted["____son"])])
    assert all(w.endswith("son") for w in words)


def check_equal_variety(lesson10):
    # section 8's temperatures: both samplers at every temperature asked for and at T = 1,
    # where the points are the decompositions of the table above; SEDD read at MADE's entropy
    # by linear interpolation, with a bootstrap error
    g, _, fig_dir = lesson10
    temperatures = sorted({float(T) for T in g["opt"].temperatures} | {1.0})
    frontier = g["frontier"]
    assert set(frontier) == {"MADE", "SEDD absorbing"}
    assert all(sorted(points) == temperatures for points in frontier.values())
    assert frontier["MADE"][1.0] is g["made_parts"]
    assert frontier["SEDD absorbing"][1.0] is g["sedd_parts"]
    for points in frontier.values():
        for d in points.values():
            values = d["per_name"]["values"]
            assert d["per_name"]["nll"][0] == pytest.approx(values["nll"].mean(), rel=1e-12)
            assert len(values["entropy"]) == d["samples"] == len(d["rows"])
            np.testing.assert_array_equal(values["nll"], -g["best_ngram"].log_prob(d["rows"]))
    # MADE's entropy at T is its samples' NLL under MADE at T (its samples are all well formed)
    for T, d in frontier["MADE"].items():
        np.testing.assert_array_equal(d["per_name"]["values"]["entropy"],
                                      -g["made"].log_likelihood(d["rows"], temperature=T))
    # and a lower temperature draws other (shorter, or at least other) names than T = 1
    assert frontier["MADE"][0.9]["chars"] != frontier["MADE"][1.0]["chars"]
    # the lesson's reading is ms.equal_variety's (tests/test_variety.py checks it) on the
    # lesson's own sample sets: SEDD's curve at MADE's entropy
    if g["equal_variety"] is not None:
        again = ms.equal_variety([g["samples_of"](d) for d in frontier["SEDD absorbing"].values()],
                                 g["samples_of"](g["made_parts"]),
                                 rng=np.random.default_rng([g["opt"].seed, 10]))
        np.testing.assert_equal(tuple(again), tuple(g["equal_variety"]))
        assert again.difference == pytest.approx(g["y_sedd"] - g["y_made"], rel=1e-12)
    assert (fig_dir / "10_equal_variety.png").stat().st_size > 0


def check_models_dir(lesson10):
    # --models-dir: the lesson's own loader finds the three trained models with their weights
    # and the record of their training (what the lesson prints and plots from); a second run
    # loads them instead of training and computes the same numbers and figures; a model saved
    # with other training settings is not reused
    g, _, fig_dir = lesson10
    kept, from_json = g["kept"], g["from_json"]
    made, record = kept("made", ms.MADE)
    assert all(np.array_equal(made.params[k], p) for k, p in g["made"].params.items())
    hist = from_json(record["hist"])
    assert set(hist) == set(g["made_hist"])
    for key, value in g["made_hist"].items():
        assert np.array_equal(hist[key], value), key
    for kind, model, curve in (("absorbing", g["sedd_abs"], g["curve_abs"]),
                               ("uniform", g["sedd_uni"], g["curve_uni"])):
        loaded, record = kept(f"sedd_{kind}", ms.ScoreMLP)
        assert all(np.array_equal(loaded.params[k], p) for k, p in model.params.items())
        stored = from_json(record["curve"])
        assert all(np.array_equal(stored[k], v) for k, v in curve.items())
        assert record["best"]["step"] == g[f"best_{kind[:3]}"]
    assert kept("no_such_model", ms.MADE) is None

    again_dir = fig_dir / "again"
    again, printed = run_lesson("10_real_names", again_dir,
                                argv=TINY + ["--models-dir", str(fig_dir / "models")])
    assert printed.count("loaded from") == 3
    for name in ("made_test", "abs_test", "abs_err", "uni_test", "ngram_test"):
        assert again[name] == g[name], name
    for r1, r2 in zip(g["gen"] + [g["gen_made"]], again["gen"] + [again["gen_made"]]):
        assert r1["gen_nll"] == r2["gen_nll"] and r1["real"] == r2["real"]
    for name in ("10_validation.png", "10_mc_tail.png", "10_gen_nll.png",
                 "10_equal_variety.png"):
        assert (again_dir / name).read_bytes() == (fig_dir / name).read_bytes(), name

    made.meta = dict(made.meta, settings=dict(made.meta["settings"], made_steps=1))
    made.save(fig_dir / "models" / "made.npz")
    assert kept("made", ms.MADE) is None
