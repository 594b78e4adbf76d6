"""What the lessons share: their options, quick mode, figures, tables, a timed training run
and the trained models they keep (--models-dir).

A lesson is a notebook first and a script too. Its first code cell reads its options:

    opt = options("Lesson 03: score entropy against L2",
                  full=dict(num_seeds=10, steps=100),      # the settings the README quotes
                  quick=dict(num_seeds=2, steps=20))       # MINISEDD_QUICK=1: tests and CI

- In a notebook (a Jupyter kernel) the command line belongs to the kernel, so it is not read:
  the options are the full settings, or the quick ones when MINISEDD_QUICK=1.
- As a script (`python lessons/03_score_entropy.py --steps 50`), every option is also a flag
  (`--help` lists them); `--quick` is the same as MINISEDD_QUICK=1.

Figures are made with `figure(...)` (a matplotlib Figure that needs no window or backend) and
handed to `show_figure(fig, "03_name.png", opt)`: it is displayed inline in a notebook, and
written under the repository's figures/ only when every option has its full value. Any other
run writes to a scratch folder in the temporary directory and says where, so a quick or
changed run never replaces a figure that the README shows. A quick run's figure is a draft:
half the resolution and fixed margins (no tight layout), which makes it about twice as fast.

`options` also limits BLAS, for the rest of the process (the script, or the notebook's
kernel), to the engine's thread count (threads.default_threads(): 1 unless MINISEDD_THREADS
says), so that the lesson's own NumPy code computes as the engine does.
"""
import argparse
import io
import os
import pathlib
import sys
import tempfile
import time

from threadpoolctl import threadpool_limits

from .threads import default_threads

QUICK_ENV = "MINISEDD_QUICK"


def in_notebook():
    """True inside a Jupyter (IPython) kernel, where sys.argv is the kernel's, not ours."""
    return "ipykernel" in sys.modules and "IPython" in sys.modules


def quick_from_env():
    """MINISEDD_QUICK set to anything but '', '0' or 'false' selects the quick settings."""
    return os.environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _flag_type(default):
    if isinstance(default, bool):
        return lambda text: text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, (tuple, list)):
        kind = type(default[0]) if default else float
        return lambda text: tuple(kind(v) for v in text.split(","))
    return type(default)


def options(description, full, quick=None, help=None, argv=None):
    """The lesson's options as an argparse.Namespace.

    description: the lesson's title (for --help); full: dict option -> value at full settings;
    quick: dict of the options that change in quick mode; help: dict option -> help text;
    argv: the command line to read (default sys.argv[1:]; ignored inside a notebook).
    The namespace also holds .quick (quick mode on) and .full_settings (every option at its
    full value: only then are figures written to figures/), and .fig_dir (see show_figure).
    """
    quick = dict(quick or {})
    unknown = set(quick) - set(full)
    if unknown:
        raise ValueError(f"quick must only change options that full defines, got {sorted(unknown)}")
    help = dict(help or {})
    use_quick = quick_from_env()
    values = dict(full, **(quick if use_quick else {}))
    fig_dir = None
    if not in_notebook():
        parser = argparse.ArgumentParser(
            description=description,
            epilog=f"{QUICK_ENV}=1 (or --quick) selects small settings; figures are written "
                   f"to figures/ only at the full settings.")
        parser.add_argument("--quick", action="store_true",
                            help=f"small settings, as {QUICK_ENV}=1 (for tests and CI)")
        parser.add_argument("--fig-dir", type=pathlib.Path, default=None,
                            help="write figures here (default: figures/ at full settings, "
                                 "else a scratch folder)")
        for name, value in full.items():
            text = help.get(name, "")
            shown = _shown(value)
            parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                                type=_flag_type(value),
                                help=f"{text} (full: {shown}"
                                     + (f"; quick: {_shown(quick[name])}" if name in quick else "")
                                     + ")")
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if args.quick:
            use_quick = True
            values = dict(full, **quick)
        for name in full:
            if getattr(args, name) is not None:
                values[name] = getattr(args, name)
        fig_dir = args.fig_dir
    out = argparse.Namespace(**values)
    # the lesson's own NumPy code (its products outside train, sample, ...) runs on the
    # engine's BLAS thread count too: the same last bits on any machine, and no threads
    # waiting for each other on a busy one (threads.py)
    threadpool_limits(limits=default_threads(), user_api="blas")
    out.quick = use_quick
    # an option naming a folder ("..._dir", e.g. where trained models are cached) does not
    # change the results, so it does not count against the full settings
    out.full_settings = all(_same(values[k], full[k]) for k in full if not k.endswith("_dir"))
    out.fig_dir = fig_dir
    return out


def _shown(value):
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value


def _same(a, b):
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    return a == b


def increasing_steps(name, values):
    """A tuple option of reverse-step counts as ints, checked to be positive and increasing."""
    steps = tuple(int(k) for k in values)
    if not steps or list(steps) != sorted(set(steps)) or steps[0] < 1:
        raise ValueError(f"{name} must be increasing positive integers, got {steps}")
    return steps


def repository_figures():
    """figures/ beside lessons/: found from the running lesson's file, or the working folder."""
    main = sys.modules.get("__main__")
    here = getattr(main, "__file__", None)
    folder = pathlib.Path(here).resolve().parent if here else pathlib.Path.cwd()
    return (folder.parent if folder.name == "lessons" else folder) / "figures"


def figure_path(name, opt):
    """Where show_figure writes `name`: opt.fig_dir if given, figures/ at full settings, else scratch."""
    if getattr(opt, "fig_dir", None) is not None:
        folder = pathlib.Path(opt.fig_dir)
    elif opt.full_settings:
        folder = repository_figures()
    else:
        folder = pathlib.Path(tempfile.gettempdir()) / "minisedd-figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def figure(nrows=1, ncols=1, figsize=(10, 4), **kwargs):
    """(fig, axes) like plt.subplots, on a bare matplotlib Figure (no window, any machine)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def show_figure(fig, name, opt, dpi=120):
    """Save `fig` as `name` (see figure_path), display it inline in a notebook; returns the path.

    The PNG is rendered once: the same bytes go to the file and to the notebook. In quick mode
    the figure is a draft, to keep tests and CI quick: half the resolution (dpi // 2), and fixed
    margins instead of matplotlib's tight layout, which measures every label and tick and costs
    about as much as the drawing itself. A draft's long labels may be cut at the edge.
    """
    if opt.quick:        # a quick run's figure is a scratch copy: a draft, about twice as fast
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.88, wspace=0.3, hspace=0.5)
        dpi = dpi // 2
    else:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    path = figure_path(name, opt)
    path.write_bytes(data)
    if in_notebook():
        from IPython.display import Image, display
        display(Image(data=data))
    if not opt.full_settings:
        where = " (a scratch copy: these are not the full settings, figures/ is left alone)"
    elif getattr(opt, "fig_dir", None) is not None:
        where = " (not figures/: --fig-dir was given)"
    else:
        where = ""
    print(f"figure written to {path}{where}")
    return path


def table(header, rows, floatfmt="{:.4f}"):
    """Print a markdown table: header (k,) strings, rows of k values; floats use floatfmt."""
    cells = [[floatfmt.format(v) if isinstance(v, float) else str(v) for v in row] for row in rows]
    width = [max(len(str(h)), *(len(r[c]) for r in cells)) for c, h in enumerate(header)]
    line = lambda values: "| " + " | ".join(f"{v:<{w}}" for v, w in zip(values, width)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in cells:
        print(line(r))


def timed(function, *args, **kwargs):
    """Run function(*args, **kwargs); returns (its result, seconds of wall-clock time)."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def load_kept(models_dir, name, cls, settings):
    """The model that save_kept wrote as models_dir/name.npz with these training `settings`
    (compared with its meta["settings"]), or None: no models_dir, no such file, or a model
    trained with other settings. cls: the model's class (its .load reads the file). What the
    lessons' --models-dir reuses."""
    if models_dir is None:
        return None
    path = pathlib.Path(models_dir) / f"{name}.npz"
    if not path.exists():
        return None
    model = cls.load(path)
    return model if model.meta.get("settings") == settings else None


def save_kept(models_dir, name, model):
    """Save model (its meta holding "settings" and the record of its training) as
    models_dir/name.npz for load_kept, creating the folder; nothing when models_dir is None."""
    if models_dir is not None:
        pathlib.Path(models_dir).mkdir(parents=True, exist_ok=True)
        model.save(pathlib.Path(models_dir) / f"{name}.npz")


def fit_score_mlp(graph, noise, data, steps, rng, hidden=128, depth=2, batch_size=256,
                  label="ScoreMLP", progress=False, **train_options):
    """Build a ScoreMLP for `data` (M, L) on `graph`, train it with `train`, print one line.

    rng: an int seed (the initialization and the training are each seeded with it, as the
    lessons do when they call ScoreMLP(..., rng=seed) and train(..., rng=seed)) or a Generator
    (shared by both, in that order). progress: print train's progress lines too.
    Returns (model, loss history, seconds).
    """
    from .model import ScoreMLP
    from .train import train
    model = ScoreMLP(graph, data.shape[1], hidden=hidden, depth=depth, rng=rng)
    history, seconds = timed(train, model, data, noise, steps, batch_size=batch_size, rng=rng,
                             log_every=None if progress else 0, **train_options)
    tail = history[-max(1, steps // 10):]
    print(f"{label}: {model.num_params()} parameters, {steps} steps of {batch_size} in "
          f"{seconds:.1f} s; mean loss of the last {len(tail)} steps {tail.mean():.4f} nats "
          f"per sequence")
    return model, history, seconds
