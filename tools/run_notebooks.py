"""Execute every lesson as a Jupyter notebook in a real kernel, and check what it shows.

    python tools/run_notebooks.py                  # all lessons, quick settings (MINISEDD_QUICK=1)
    python tools/run_notebooks.py --full 03        # lesson 03 at full settings
    python tools/run_notebooks.py --keep out/      # also keep the executed .ipynb files

Each lessons/NN_*.py (a jupytext percent file) is turned into a notebook, executed top to
bottom in a fresh python3 kernel, and checked: no cell fails, most code cells show an output,
and a lesson that writes a figure shows it inline (an image/png output). Needs the
`notebooks` extra: pip install -e ".[notebooks]".
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(path, out_dir, timeout):
    import jupytext
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor
    notebook = jupytext.read(path)
    ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
        notebook, {"metadata": {"path": str(path.parent)}})
    nbformat.write(notebook, str(out_dir / (path.stem + ".ipynb")))
    code = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    shown = [c for c in code if c.get("outputs")]
    images = sum(1 for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    return len(code), len(shown), images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    parser.add_argument("--full", action="store_true", help="full settings instead of quick")
    parser.add_argument("--keep", type=pathlib.Path, default=None,
                        help="folder for the executed notebooks (default: a temporary one)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ["MINISEDD_QUICK"] = "0" if args.full else "1"
    paths = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
    if args.lessons:
        paths = [p for p in paths if p.name[:2] in {n.zfill(2) for n in args.lessons}]
    out_dir = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="minisedd-notebooks-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in paths:
        start = time.perf_counter()
        try:
            code, shown, images = run(path, out_dir, args.timeout)
        except Exception as err:   # a failing cell: report it and go on to the next lesson
            print(f"FAIL {path.name}: {type(err).__name__}: {str(err)[-2000:]}")
            failed.append(path.name)
            continue
        writes_figure = "show_figure(" in path.read_text()
        ok = shown >= code / 2 and (images > 0 or not writes_figure)
        print(f"{'ok  ' if ok else 'FAIL'} {path.name}: {shown}/{code} code cells show output, "
              f"{images} inline figures, {time.perf_counter() - start:.1f} s")
        if not ok:
            failed.append(path.name)
    print(f"lessons executed as notebooks: {len(paths) - len(failed)} of {len(paths)} ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
