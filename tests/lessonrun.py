"""Run a lesson as its notebook would, at quick settings, and hand its top-level names to a test.

    names, printed = run_lesson("03_score_entropy", tmp_path)

executes lessons/03_score_entropy.py top to bottom as __main__ with MINISEDD_QUICK=1, no
command-line arguments and figures written to tmp_path; returns the lesson's globals and what it
printed. Extra command-line flags can be passed as argv (e.g. ["--seed", "1"]).
"""
import contextlib
import io
import os
import pathlib
import runpy
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_lesson(stem, fig_dir, argv=(), quick=True):
    path = ROOT / "lessons" / f"{stem}.py"
    old_argv, old_env = sys.argv, os.environ.get("MINISEDD_QUICK")
    sys.argv = [str(path), "--fig-dir", str(fig_dir), *argv]
    os.environ["MINISEDD_QUICK"] = "1" if quick else "0"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            names = runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old_argv
        if old_env is None:
            os.environ.pop("MINISEDD_QUICK", None)
        else:
            os.environ["MINISEDD_QUICK"] = old_env
    return names, out.getvalue()
