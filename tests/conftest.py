"""Shared test helpers: load a lesson script as a module so its main() can be called."""
import importlib.util
import pathlib

import pytest

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
