"""Lesson 11 runs at tiny settings, and the claims it prints hold at that size.

The derivation checks (section 1) are exact claims and hold at any size: every hand gradient
matches finite differences, the causal mask stops every gradient into the future, zero gates
make a block the identity. The surname numbers of section 2 mean nothing at this size; the
test checks that every model is trained, scored (the NELBO, and the order bound paired with the
causal model's NLL) and sampled, and that the figure is written.
"""
import re

import numpy as np
import pytest

from lessonrun import run_lesson

TINY = ["--test-words", "40", "--valid-words", "16", "--steps", "4", "--mlp-steps", "4",
        "--causal-steps", "4", "--batch-size", "32", "--gen-samples", "16",
        "--gen-max-steps", "2", "--toy-steps", "4", "--toy-samples", "60",
        "--agree-steps", "4", "--agree-samples", "30",
        "--grad-entries", "2", "--d-model", "8", "--mlp-hidden", "16",
        "--variety-samples", "30", "--variety-sedd-samples", "12", "--variety-orders", "2",
        "--variety-temperatures", "1,2,4"]


def test_lesson_11_transformer(tmp_path):
    models = tmp_path / "models"
    g, printed = run_lesson("11_transformer", tmp_path, argv=TINY + ["--models-dir", str(models)])
    # section 1: every relative error printed (seven layer checks, three whole networks) < 1e-6
    errors = [float(v) for v in re.findall(r"relative error (?:of dE, dpos = )?([0-9.]+e[-+]\d+)",
                                           printed)]
    errors += [float(row[2]) for row in g["checks"]]
    assert len(errors) >= 10 and max(errors) < 1e-6, errors
    assert "largest |dx| at positions 1.. from a gradient on position 0: 0\n" in printed
    assert re.search(r"causal=False.*gradient on position 0: [1-9]", printed)
    # adaLN-Zero: the block is the identity, bit for bit; only position 0 moves; the gates
    # get a gradient and the weights behind them none
    assert np.array_equal(g["same"], g["emb"])
    assert g["moved"][0] > 0 and (g["moved"][1:] == 0).all()
    assert not g["g"]["block0_qkv_W"].any() and not g["g"]["block0_mlp_W1"].any()
    assert np.abs(g["g"]["block0_ada_W"]).max() > 0
    # section 2: four trained models, a bound with a standard error for each SEDD model
    assert set(g["test_nll"]) == {"transformer_absorbing", "transformer_uniform",
                                  "mlp_absorbing", "causal"}
    for name, (value, stderr) in g["test_nll"].items():
        assert np.isfinite(value) and value > 0
        assert (stderr > 0) == (name != "causal")
    assert g["causal"].params["block0_qkv_W"].dtype == np.float32
    assert g["st_absorbing"].meta["best"] in (2, 4)          # a checked step: 4 steps, 2 checks
    assert set(g["targets"]) == {"transformer beats MLP", "within 3% of causal",
                                 "absorbing ahead of uniform"}
    # the order bound on the first test words: both absorbing models, each difference with
    # the causal NLL the total of the word-by-word differences
    assert [row[0] for row in g["order_rows"]] == ["transformer_absorbing", "mlp_absorbing"]
    few, causal_few, n = g["few"], g["causal_few"], g["chars"](g["few"])
    assert np.array_equal(few, g["corpus"].test[:g["opt"].iw_words])
    np.testing.assert_array_equal(causal_few, -g["causal"].log_likelihood(few))
    for name, nelbo, nelbo_err, bound, _, diff, err, _ in g["order_rows"]:
        nats = g["order_nats"][name]
        assert bound == pytest.approx(nats.sum() / n, rel=1e-12)
        assert diff == pytest.approx(bound - causal_few.sum() / n, rel=1e-9)
        paired = np.std(nats - causal_few, ddof=1) * np.sqrt(len(few)) / n
        assert err == f"+- {paired:.4f}" and paired > 0
        model, noise = g["sedd"][name]          # the NELBO of the same words, the same draws
        again = g["per_char_bound"](model, noise, few, g["opt"].iw_draws,
                                    np.random.default_rng(g["opt"].seed + 12))
        assert (nelbo, nelbo_err) == (again[0], f"+- {again[1]:.4f}")
    assert g["step_grid"] == [1, 2]
    for curve in g["curves"].values():      # (NLL, fraction well-formed, standard error)
        assert len(curve) == 2 and all(0 <= f <= 1 for _, f, _ in curve)
        assert all(se > 0 for v, f, se in curve if f * g["opt"].gen_samples >= 2)
    assert (tmp_path / "11_gen_nll.png").stat().st_size > 10_000
    # variety and quality: the judge is the n-gram the validation split prefers; each sample
    # set holds, per well-formed sample, the sampler's own nats (plus log of the fraction
    # kept) and the judge's; SEDD's upper end is the order bound of the same samples
    corpus, judge = g["corpus"], g["judge"]
    valid = {N: m.nll_per_char(corpus.valid) for N, m in g["judges"].items()}
    assert g["judge_order"] == min(valid, key=valid.get)
    x_sedd, own, ok = g["x_sedd"], g["own_sedd"], g["sedd_ok"]
    assert len(x_sedd) == 12 and np.array_equal(ok, corpus.is_wellformed(x_sedd))
    low_h, low_y = g["sedd_low"]
    np.testing.assert_array_equal(low_h, own[ok] + np.log(ok.mean()))
    np.testing.assert_array_equal(low_y, -judge.log_prob(x_sedd[ok]))
    up_h, up_y = g["sedd_up"]
    assert up_y is low_y and len(g["upper"]) == ok.sum()
    np.testing.assert_array_equal(up_h, g["upper"] + np.log(ok.mean()))
    assert list(g["causal_curve"]) == [1.0, 2.0, 4.0]
    for T, (h, y) in g["causal_curve"].items():
        x = g["causal_samples"][T]                  # the causal model writes only words
        np.testing.assert_array_equal(h, -g["causal"].log_likelihood(x, temperature=T))
        np.testing.assert_array_equal(y, -judge.log_prob(x))
    check_compare_at_variety(g["compare_at_variety"])
    assert all(isinstance(v, bool) for v in g["variety_claims"].values())
    assert (tmp_path / "11_equal_variety.png").stat().st_size > 10_000
    # section 3: both graphs on the toy corpus; section 4: four timings
    assert [row[0] for row in g["toy_rows"]] == ["absorbing"]
    # and on the agreement corpus: fractions of the samples, the held-out ones grammatical
    agree = g["agree_row"]
    assert len(g["x_agree"]) == 30 and 0 <= agree["held out"] <= agree["grammatical"] <= 1
    assert agree["grammatical"] == g["agreement"].is_grammatical(g["x_agree"]).mean()
    assert len(g["speed_rows"]) == 4 and all(row[2] > 0 for row in g["speed_rows"])
    # --models-dir: the lesson's own loader finds the four saved models, with the weights the
    # run trained (a second run would load them instead of training)
    trained = {"transformer_absorbing": g["st_absorbing"], "transformer_uniform": g["st_uniform"],
               "mlp_absorbing": g["mlp_absorbing"], "causal": g["causal"]}
    for name, model in trained.items():
        loaded = g["kept"](name)
        assert type(loaded) is type(model), name
        assert all(np.array_equal(loaded.params[k], p) for k, p in model.params.items()), name


def check_compare_at_variety(compare):
    # made-up sample sets: the curve y = 2 h, rising, at entropies 9, 10, 11; the other
    # sampler's samples, NLL 21.5 on average, with their entropy between a lower bound (10.4)
    # and an upper one (10.6; the same samples, so the same NLLs): the curve reads 20.8 and
    # 21.2 there, below 21.5 at both ends, so the curve's sampler is the better one. Each
    # sample's NLL follows its entropy, as along real curves
    rng = np.random.default_rng(0)

    def made_up(h, y, num=2000):
        entropy = h + rng.normal(size=num)
        return entropy, y + 2 * (entropy - h) + 0.1 * rng.normal(size=num)

    def bracket(y):                                # bounds 10.4 and 10.6, one set of NLLs
        h, nll = made_up(10.4, y)
        return (h, nll), (h + 0.2, nll)
    curve = [made_up(h, 2 * h) for h in (9.0, 10.0, 11.0)]
    low, up = bracket(21.5)
    readings, claims, rising, ordered = compare(curve, low, up, rng, 50)
    assert rising and ordered
    assert readings["lower"].difference == pytest.approx(-0.7, abs=0.1)
    assert readings["upper"].difference == pytest.approx(-0.3, abs=0.1)
    curve_better, other_better = claims.values()
    assert curve_better and not other_better
    # between the readings (20.95): no claim holds; at 20.0 the other sampler is better even
    # at its lower bound
    assert not any(compare(curve, *bracket(20.95), rng, 50)[1].values())
    assert list(compare(curve, *bracket(20.0), rng, 50)[1].values()) == [False, True]
    # no claim from bounds in the wrong order, or from a curve that does not rise
    _, claims, _, ordered = compare(curve, up, low, rng, 50)
    assert not ordered and not any(claims.values())
    flat = [made_up(9.0, 18.0), made_up(10.0, 17.0), made_up(11.0, 22.0)]
    _, claims, rising, _ = compare(flat, low, up, rng, 50)
    assert not rising and not any(claims.values())
    # the two ends must be the same samples
    with pytest.raises(ValueError, match="the same samples' NLLs"):
        compare(curve, low, made_up(10.6, 21.5), rng, 50)
