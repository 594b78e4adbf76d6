"""Reading and writing the .npz checkpoints of every minisedd model, safely.

A checkpoint is a plain .npz archive (no pickles): a format tag naming the model, a format
version, the model's settings and its parameters as "param_<name>" arrays. A checkpoint file is
untrusted input: anything that is not one of ours becomes a ValueError naming the path.
"""
import json
import os

import numpy as np


def meta_array(meta):
    """meta (a dict of JSON values) as the 0-d string array a checkpoint stores; a TypeError
    naming meta for anything JSON cannot hold (a NumPy array, a set, ...)."""
    try:
        return np.array(json.dumps(meta))
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must hold JSON values (str, numbers, lists, dicts): "
                        f"{err}") from None


def meta_from(data):
    """The meta dict stored by meta_array in a checkpoint's arrays `data` (a KeyError if it has
    none, a ValueError if it is not JSON: the loaders report either as a damaged file)."""
    return json.loads(str(data["meta"]))


def _check_path(path):
    """path, if it is a file name (a str or os.PathLike: not an open file, not a number)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    return path


def write_checkpoint(path, arrays, params):
    """Write arrays (dict name -> array) and params (as "param_<name>") to an .npz at path.

    A parameter holding NaN or inf is refused (a ValueError), as read_checkpoint would refuse
    it later; path must be a file name (a str or os.PathLike), not an open file or a number.
    """
    _check_path(path)
    bad = [name for name, p in params.items() if not np.isfinite(p).all()]
    if bad:
        raise ValueError(f"cannot save a model whose parameters hold NaN or inf: "
                         f"{', '.join(bad)}")
    out = dict(arrays)
    for name, p in params.items():
        out["param_" + name] = p
    with open(path, "wb") as f:      # a file object: np.savez would add ".npz" to a bare path
        np.savez(f, **out)


def read_checkpoint(path, fmt, what, versions):
    """The arrays of the .npz checkpoint at path, checked to carry format tag `fmt`.

    what: the model's name for messages ("ScoreMLP"); versions: the format versions this
    minisedd reads. Returns (path as str, dict name -> array, version).
    """
    path = os.fspath(_check_path(path))
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} is not a file")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":                      # every .npz is a zip archive
        raise ValueError(f"path {path!r} is not a minisedd checkpoint: not an .npz (zip) archive")
    # any failure to parse the file becomes a ValueError naming the path (a damaged zip raises
    # BadZipFile, EOFError, RuntimeError, NotImplementedError, ...)
    try:
        with open(path, "rb") as handle:           # our handle, closed even if np.load fails
            f = np.load(handle, allow_pickle=False)
            if not hasattr(f, "files"):            # np.load of a plain .npy gives one array
                raise ValueError("it holds a single .npy array, not an .npz archive")
            with f:
                data = {k: f[k] for k in f.files}
    except Exception as err:
        raise ValueError(f"path {path!r} is not a readable minisedd checkpoint (.npz): "
                         f"{type(err).__name__}: {err}") from None
    if "format" not in data or str(data["format"]) != fmt:
        raise ValueError(f"path {path!r} is not a minisedd {what} checkpoint "
                         f"(no '{fmt}' format tag)")
    try:
        version = int(data["format_version"])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"path {path!r} is a damaged minisedd checkpoint: no readable "
                         f"format_version") from None
    if version not in versions:
        raise ValueError(f"path {path!r} has checkpoint format version {version}; this "
                         f"minisedd reads version{'s' if len(versions) > 1 else ''} "
                         f"{' and '.join(map(str, versions))}")
    return path, data, version


def load_params(params, data):
    """Copy the stored "param_<name>" arrays of data into params (dict of arrays) in place.

    Raises ValueError for a missing or extra parameter, or one of the wrong shape or dtype,
    or holding a non-finite value.
    """
    for name, p in params.items():
        stored = data["param_" + name]
        if stored.shape != p.shape or stored.dtype != p.dtype:
            raise ValueError(f"parameter {name} has shape {stored.shape} and dtype "
                             f"{stored.dtype}, expected {p.shape} and {p.dtype}")
        if not np.isfinite(stored).all():
            raise ValueError(f"parameter {name} holds non-finite values")
        p[...] = stored
    extra = {k for k in data if k.startswith("param_")} - {"param_" + k for k in params}
    if extra:
        raise ValueError(f"unexpected parameters {sorted(extra)}")


def graph_arrays(graph):
    """The arrays that store a graph in a checkpoint: its kind and its rate matrix."""
    return {"graph_kind": np.array(graph.kind), "graph_Q": np.asarray(graph.Q)}


def graph_from_checkpoint(data):
    """Rebuild the graph stored by graph_arrays (Uniform, Absorbing or a general Graph(Q))."""
    from .graphs import Absorbing, Graph, Uniform
    kind, Q = str(data["graph_kind"]), data["graph_Q"]
    graph = {"uniform": lambda: Uniform(Q.shape[0]),
             "absorbing": lambda: Absorbing(Q.shape[0])}.get(kind, lambda: Graph(Q))()
    if not np.array_equal(graph.Q, Q):
        raise ValueError("the stored rate matrix does not match its graph kind")
    return graph
