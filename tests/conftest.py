"""Shared test helpers: load a lesson script as a module so its main() can be called.

The whole session runs with BLAS limited to one thread. The tests call the engine's functions
directly (a model's forward pass, a kernel), outside the one-thread limit of train and sample,
and pytest-xdist already runs one worker per core: BLAS threads on top of that only wait for
each other, and on a busy machine a small-matrix test took 39 s instead of 3.
"""
import importlib.util
import pathlib

import pytest
from threadpoolctl import threadpool_limits

import minisedd  # noqa: F401  (loads NumPy's and SciPy's BLAS libraries, so the limit covers both)

_ONE_BLAS_THREAD = threadpool_limits(limits=1, user_api="blas")   # for the whole session

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_lesson(stem):
    """Import lessons/<stem>.py (e.g. "03_score_entropy") as a module, without running main()."""
    path = ROOT / "lessons" / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"lesson_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lesson():
    return load_lesson
