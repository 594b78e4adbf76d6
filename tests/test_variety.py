"""ms.curve_at and ms.equal_variety: a curve read by linear interpolation, and the bootstrap
error of the difference at equal variety (lessons 10 and 11)."""
import numpy as np
import pytest

import minisedd as ms


def test_curve_at_interpolates_between_the_neighbours_in_entropy():
    curve = [(13.0, 17.0), (10.0, 12.0), (12.0, 15.0)]          # any order
    assert ms.curve_at(curve, 11.0) == pytest.approx(13.5)
    assert ms.curve_at(curve, 11.5) == pytest.approx(14.25)
    assert ms.curve_at(curve, 12.8) == pytest.approx(16.6)
    assert ms.curve_at(curve, 10.0) == 12.0 and ms.curve_at(curve, 13.0) == 17.0
    assert ms.curve_at(curve, 9.0) is None and ms.curve_at(curve, 13.5) is None
    assert type(ms.curve_at(curve, np.float64(11.0))) is float
    assert ms.curve_at([(5.0, 7.0)], 5.0) == 7.0 and ms.curve_at([(5.0, 7.0)], 5.1) is None


@pytest.mark.parametrize("curve, entropy, error, match", [
    ([(10.0, 12.0), (12.0, 15.0)], float("nan"), ValueError, "entropy must be finite"),
    ([(10.0, 12.0), (12.0, 15.0)], np.array([11.0]), TypeError, "entropy must be a real number"),
    ([(10.0, np.nan), (12.0, 15.0)], 11.0, ValueError, "nll must be finite"),
    ([(10.0, 12.0), (10.0, 15.0)], 10.0, ValueError, "two points at the same entropy"),
    ([], 10.0, ValueError, "at least one point"),
])
def test_curve_at_bad_input(curve, entropy, error, match):
    with pytest.raises(error, match=match):
        ms.curve_at(curve, entropy)


def made_up(rng, h, y, num):
    """A sample set whose NLL follows its entropy with slope 2 (as along the curves), plus a
    little noise of its own: most of a point's noise moves it along the curve."""
    entropy = h + rng.normal(size=num)
    return entropy, y + 2 * (entropy - h) + 0.1 * rng.normal(size=num)


def test_equal_variety_reads_the_curve_and_its_bootstrap_error_falls_as_one_over_root_n():
    # the curve: y = 2 h at three temperatures with mean entropies 9, 10, 11; the point at
    # h = 10.3, y = 20, so the curve lies 0.6 above it there. The bootstrap must resample each
    # set's entropies and NLLs together: apart, its error would be about 0.15, not 0.01
    rng = np.random.default_rng(0)
    errors = []
    for num in (400, 1600):
        curve = [made_up(rng, h, 2 * h, num) for h in (9.0, 10.0, 11.0)]
        point = made_up(rng, 10.3, 20.0, num)
        result = ms.equal_variety(curve, point, rng=rng, resamples=100)
        at = ms.curve_at([(h.mean(), y.mean()) for h, y in curve], point[0].mean())
        assert result.curve_nll == at
        assert result.difference == pytest.approx(at - point[1].mean(), rel=1e-12)
        assert abs(result.difference - 0.6) < 5 * result.stderr
        assert result.inside == 100 and result.stderr < 0.03
        errors.append(result.stderr)
    assert 0.35 < errors[1] / errors[0] < 0.7                   # four times the samples: half


def test_equal_variety_error_matches_the_spread_over_repeated_experiments():
    # the bootstrap error estimates the spread the difference would have over fresh samples.
    # Here the curve's NLLs carry noise of their own (sd 2, independent of the entropy) and
    # the point's little: an error that forgot to resample the curve would be far too small
    rng = np.random.default_rng(1)

    def noisy(h, y, num, sd):
        entropy = h + rng.normal(size=num)
        return entropy, y + 2 * (entropy - h) + sd * rng.normal(size=num)

    diffs, errs = [], []
    for _ in range(60):
        curve = [noisy(h, 2 * h, 300, 2.0) for h in (9.0, 10.0, 11.0)]
        result = ms.equal_variety(curve, noisy(10.3, 20.0, 300, 0.2), rng=rng, resamples=60)
        diffs.append(result.difference)
        errs.append(result.stderr)
    assert 0.7 < np.mean(errs) / np.std(diffs) < 1.4


def test_equal_variety_outside_the_curve_and_the_same_seed():
    rng = np.random.default_rng(2)
    curve = [made_up(rng, h, 2 * h, 50) for h in (9.0, 10.0)]
    assert ms.equal_variety(curve, made_up(rng, 30.0, 20.0, 50), rng=0) is None
    point = made_up(rng, 9.5, 20.0, 50)
    first, again = (ms.equal_variety(curve, point, rng=3, resamples=20) for _ in range(2))
    assert first == again
    assert ms.equal_variety(curve, point, rng=4, resamples=20).stderr != first.stderr
    # a point at the curve's end (the curve's own first set): read exactly there, and about
    # half of the resamples fall outside the resampled curve and give no reading
    edge = ms.equal_variety(curve, curve[0], rng=5, resamples=40)
    assert edge.difference == 0.0 and 5 < edge.inside < 35


@pytest.mark.parametrize("curve, point, kwargs, error, match", [
    ([(np.ones(3), np.ones(3))], (np.ones(3), np.ones(3)), {}, TypeError,
     "curve must be a list of at least two sample sets"),
    ("curve", (np.ones(3), np.ones(3)), {}, TypeError, "curve must be a list"),
    ([(np.ones(3), np.ones(3)), (np.ones(3),)], (np.ones(3), np.ones(3)), {}, TypeError,
     r"curve\[1\] must be a pair"),
    ([(np.ones(3), np.ones(3))] * 2, (np.ones(3), np.ones(2)), {}, ValueError,
     "point must hold two 1-D arrays of one length"),
    ([(np.ones(3), np.ones(3))] * 2, (np.ones(1), np.ones(1)), {}, ValueError,
     "point must hold two 1-D arrays of one length >= 2"),
    ([(np.ones(3), np.full(3, np.nan))] * 2, (np.ones(3), np.ones(3)), {}, ValueError,
     r"curve\[0\]\[1\] \(nll\) must not contain NaN"),
    ([(np.ones(3), np.ones(3))] * 2, (np.ones(3), np.ones(3)), {"resamples": 1}, ValueError,
     "resamples must be >= 2"),
    ([(np.ones(3), np.ones(3))] * 2, (np.ones(3), np.ones(3)), {"rng": [1]}, TypeError,
     "rng must be None"),
])
def test_equal_variety_bad_input(curve, point, kwargs, error, match):
    with pytest.raises(error, match=match):
        ms.equal_variety(curve, point, **kwargs)
