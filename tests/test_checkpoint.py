"""Checkpoints: ScoreMLP.save / ScoreMLP.load (minisedd/model.py).

Claims checked:
- a round trip (Uniform, Absorbing, a random Graph(Q); SiLU and ReLU; trained weights; meta)
  gives bit-identical log_score, equal parameters, settings and meta, and writes exactly
  the path it is given (no ".npz" appended);
- a truncated file, random bytes, a plain .npy, a foreign .npz, an .npz holding a pickled
  object array, a missing or wrong format version, a missing or misshapen parameter, a rate
  matrix that does not match its graph kind, and non-finite parameters each raise a
  ValueError that names the path;
- loading never unpickles: a pickle whose loading would create a file is refused and the
  file is not created (while np.load(allow_pickle=True) would create it).
"""
import json
import os

import numpy as np
import pytest

from minisedd import TOY_N_CLEAN, TOY_SENTENCES, Absorbing, ScoreMLP, Uniform, problem, train
from helpers import make_graph


def saved_arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def checkpoint(tmp_path):
    """A small saved model and its path."""
    model = ScoreMLP(Absorbing(5), 3, hidden=8, depth=2, rng=1)
    path = tmp_path / "model.npz"
    model.save(path)
    return model, path


# -- round trip ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["uniform", "absorbing", "graph"])
@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_round_trip_is_bit_identical(tmp_path, kind, activation):
    graph = make_graph(kind)
    model = ScoreMLP(graph, 3, hidden=8, depth=3, rng=7, activation=activation)
    rng = np.random.default_rng(0)
    for p in model.params.values():          # weights no fresh model of this seed has
        p += rng.normal(size=p.shape)
    model.meta = {"vocab": ["a", "b", "c", "d", "e"], "noise": {"kind": "geometric"}, "n": 3}
    path = tmp_path / "ckpt.npz"
    model.save(path)
    loaded = ScoreMLP.load(path)
    assert (loaded.graph.kind, loaded.graph.n, loaded.length, loaded.hidden, loaded.depth,
            loaded.activation) == (kind, 5, 3, 8, 3, activation)
    assert np.array_equal(loaded.graph.Q, graph.Q)
    assert loaded.meta == model.meta
    assert set(loaded.params) == set(model.params)
    for k in model.params:
        assert loaded.params[k].dtype == np.float64
        assert np.array_equal(loaded.params[k], model.params[k])
    x = rng.integers(0, graph.n, size=(10, 3))
    sb = rng.uniform(0.0, 5.0, size=10)
    assert np.array_equal(loaded.log_score(x, sb), model.log_score(x, sb))   # bit-identical


def test_round_trip_of_a_trained_model(tmp_path):
    graph, noise = problem("uniform", TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=8, rng=0)
    train(model, TOY_SENTENCES, noise, 20, batch_size=8, rng=0, log_every=0)
    model.save(tmp_path / "trained.npz")
    loaded = ScoreMLP.load(tmp_path / "trained.npz")
    sb = np.linspace(1e-4, 20.0, 6)
    assert np.array_equal(loaded.log_score(TOY_SENTENCES, sb), model.log_score(TOY_SENTENCES, sb))


def test_save_writes_exactly_the_given_path(tmp_path):
    model = ScoreMLP(Uniform(4), 2, hidden=4, rng=0)
    path = tmp_path / "no_suffix"
    model.save(str(path))
    assert path.is_file() and not (tmp_path / "no_suffix.npz").exists()
    assert np.array_equal(ScoreMLP.load(str(path)).params["W0"], model.params["W0"])


def test_meta_must_be_json(tmp_path):
    model = ScoreMLP(Uniform(4), 2, hidden=4, rng=0)
    model.meta = {"array": np.zeros(2)}
    with pytest.raises(TypeError, match="meta"):
        model.save(tmp_path / "m.npz")


# -- files that are not good checkpoints --------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="nowhere.npz"):
        ScoreMLP.load(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(checkpoint, tmp_path, fraction):
    _, path = checkpoint
    data = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[:int(fraction * len(data))])
    with pytest.raises(ValueError, match="truncated.npz"):
        ScoreMLP.load(bad)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(checkpoint, tmp_path, seed):
    _, path = checkpoint
    rng = np.random.default_rng(seed)
    bad = tmp_path / "noise.npz"
    bad.write_bytes(rng.integers(0, 256, size=path.stat().st_size, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="noise.npz"):
        ScoreMLP.load(bad)


def test_corrupted_bytes_inside_the_archive(checkpoint, tmp_path):
    """Flipping bytes in the middle of a real checkpoint: rejected (zip CRC), or, where the
    flip only hit unchecked zip bookkeeping, loaded with the very same weights."""
    model, path = checkpoint
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    bad = tmp_path / "flipped.npz"
    rejected = 0
    for _ in range(40):
        changed = bytearray(data)
        at = int(rng.integers(0, len(data)))
        changed[at] ^= 0xFF
        bad.write_bytes(bytes(changed))
        try:
            loaded = ScoreMLP.load(bad)
        except ValueError as err:
            assert "flipped.npz" in str(err)
            rejected += 1
            continue
        assert all(np.array_equal(loaded.params[k], model.params[k]) for k in model.params)
    assert rejected > 20


def test_plain_npy_file(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.arange(5.0))
    with pytest.raises(ValueError, match="array.npy"):
        ScoreMLP.load(path)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones((3, 3)), labels=np.arange(3))
    with pytest.raises(ValueError, match=r"foreign\.npz.*not a minisedd ScoreMLP checkpoint"):
        ScoreMLP.load(path)


class Trap:
    """Unpickling this calls open(marker, "w"): a visible side effect of any pickle load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_object_array_is_refused_and_never_unpickled(checkpoint, tmp_path):
    _, path = checkpoint
    arrays = saved_arrays(path)
    marker = tmp_path / "unpickled.txt"
    arrays["meta"] = np.array([Trap(str(marker))], dtype=object)   # a real checkpoint otherwise
    bad = tmp_path / "pickled.npz"
    with open(bad, "wb") as f:
        np.savez(f, allow_pickle=True, **arrays)
    with pytest.raises(ValueError, match="pickled.npz"):
        ScoreMLP.load(bad)
    assert not marker.exists()
    # the trap works: loading with pickles allowed does create the file
    with np.load(bad, allow_pickle=True) as f:
        f["meta"][0].close()
    assert marker.exists()


@pytest.mark.parametrize("version", [0, 1, 99])
def test_wrong_format_version(checkpoint, tmp_path, version):
    _, path = checkpoint
    arrays = saved_arrays(path)
    arrays["format_version"] = np.array(version)
    bad = tmp_path / "version.npz"
    write_npz(bad, arrays)
    with pytest.raises(ValueError, match=rf"version\.npz.*version {version}"):
        ScoreMLP.load(bad)


@pytest.mark.parametrize("damage", ["no version", "text version", "no parameter", "wrong shape",
                                    "extra parameter", "float32 parameter", "Q of another kind",
                                    "no settings", "bad meta", "inf parameter"])
def test_damaged_checkpoint(checkpoint, tmp_path, damage):
    _, path = checkpoint
    arrays = saved_arrays(path)
    if damage == "no version":
        del arrays["format_version"]
    elif damage == "text version":
        arrays["format_version"] = np.array("one")
    elif damage == "no parameter":
        del arrays["param_W1"]
    elif damage == "wrong shape":
        arrays["param_W1"] = np.zeros((3, 3))
    elif damage == "extra parameter":
        arrays["param_W9"] = np.zeros(2)
    elif damage == "float32 parameter":
        arrays["param_b0"] = arrays["param_b0"].astype(np.float32)
    elif damage == "Q of another kind":
        arrays["graph_kind"] = np.array("uniform")
    elif damage == "no settings":
        del arrays["settings"]
    elif damage == "bad meta":
        arrays["meta"] = np.array("{not json")
    elif damage == "inf parameter":
        arrays["param_W0"] = np.full_like(arrays["param_W0"], np.inf)
    bad = tmp_path / "damaged.npz"
    write_npz(bad, arrays)
    with pytest.raises(ValueError, match="damaged.npz"):
        ScoreMLP.load(bad)


def test_load_passes_allow_pickle_false(checkpoint, monkeypatch):
    """Every np.load the loader makes forbids pickles."""
    _, path = checkpoint
    calls = []
    original = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return original(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    ScoreMLP.load(path)
    assert calls == [False]


def test_saved_file_holds_no_object_arrays(checkpoint):
    _, path = checkpoint
    arrays = saved_arrays(path)          # allow_pickle=False: would raise on an object array
    assert int(arrays["format_version"]) == 3 and str(arrays["format"]) == "minisedd-scoremlp"
    assert json.loads(str(arrays["meta"])) == {}
    assert os.path.getsize(path) > 0


@pytest.mark.parametrize("kind", ["uniform", "absorbing"])
def test_float32_round_trip_keeps_the_dtype(tmp_path, kind):
    graph, _ = problem(kind, TOY_N_CLEAN)
    model = ScoreMLP(graph, 4, hidden=16, rng=3, dtype=np.float32)
    path = tmp_path / "f32.npz"
    model.save(path)
    loaded = ScoreMLP.load(path)
    assert loaded.dtype == np.float32 and str(saved_arrays(path)["dtype"]) == "float32"
    for k in model.params:
        assert loaded.params[k].dtype == np.float32
        assert np.array_equal(loaded.params[k], model.params[k])
    x = TOY_SENTENCES[:3]
    assert np.array_equal(loaded.log_score(x, 0.5), model.log_score(x, 0.5))


def test_a_version_2_checkpoint_is_read_as_float64(checkpoint, tmp_path):
    model, path = checkpoint
    arrays = saved_arrays(path)
    arrays["format_version"] = np.array(2)
    del arrays["dtype"]
    old = tmp_path / "v2.npz"
    write_npz(old, arrays)
    loaded = ScoreMLP.load(old)
    assert loaded.dtype == np.float64
    assert all(np.array_equal(loaded.params[k], model.params[k]) for k in model.params)


def test_a_parameter_of_the_wrong_dtype_is_refused(checkpoint, tmp_path):
    _, path = checkpoint
    arrays = saved_arrays(path)
    arrays["param_W1"] = arrays["param_W1"].astype(np.float32)       # the file says float64
    bad = tmp_path / "mixed.npz"
    write_npz(bad, arrays)
    with pytest.raises(ValueError, match=r"mixed\.npz.*damaged.*W1.*float32"):
        ScoreMLP.load(bad)
