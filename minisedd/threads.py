"""How many threads the linear algebra (BLAS) may use while minisedd computes.

NumPy's matrix products run in a BLAS library (OpenBLAS in the NumPy wheels) that starts one
thread per core by default. On the small matrices of minisedd those threads mostly wait for
each other, and when other programs hold the cores they spin while they wait: on a 2-core
laptop with a load average near 6, 300 training steps on the toy corpus took 26.6 s with
OpenBLAS's default threads and 1.7 s with one thread, and the test suite 5 min 36 s against
93 s.

So the engine's heavy entry points (``train``, ``sample``, ``nelbo``, ``ExactScore``'s posterior,
the general graph's ``expm``) run inside ``blas_threads()`` (train, sample, nelbo and the
autoregressive trainers through ``computing()``, below), which limits BLAS to

    MINISEDD_THREADS (an environment variable, an integer >= 1) if it is set, else 1

for the whole call (one limit per call, restored on return). An enclosing ``blas_threads(n)``
wins over the default of the calls inside it, so

    with ms.blas_threads(2):
        ms.train(model, data, noise, 3000)

trains with two threads.

Why 1 (measured on the 2-core machine of the benchmark, the matrix products of one training
step of a 14-token, 28-symbol model with hidden width 512, depth 3, batch 256, as in
benchmarks/bench_train.py; the machine was never idle while this was measured, the other
programs' load average was 6 to 15):

    products per step          float64    float32
    1 thread                    169 ms     107 ms
    2 threads                   851 ms     805 ms
    1 thread,  one more busy    432 ms     184 ms
    2 threads, one more busy   1351 ms     752 ms

On an idle machine two threads can at best halve the time of the largest products (the
toy network's products are too small to gain anything); on a machine shared with any other
program they lose several times over.

The thread count also decides the last bits: OpenBLAS splits a product between threads in a
way that can change the order of its sums (float32 products of minisedd's shapes differ on 1
and 2 threads almost always, float64 ones for some shapes, e.g. (394, 256) x (256, 512)). A
fixed count, 1 by default, keeps a seeded run bit-for-bit the same on every machine.

Elementwise work does not depend on the thread count at all: with more than one thread allowed,
run_split (below) runs the independent arrays of Adam's update and of the weight average side
by side, with the same bits as on one thread.
"""
import concurrent.futures
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from threadpoolctl import ThreadpoolController

from .checks import check_int
from .heap import keep_heap

ENV_VAR = "MINISEDD_THREADS"
_active = []            # the counts of the enclosing blas_threads calls, innermost last
_controller = []        # one ThreadpoolController, made at first use (finding the libraries
                        # costs milliseconds; limiting through it afterwards, microseconds)


def default_threads():
    """The BLAS thread count minisedd uses: $MINISEDD_THREADS if set (an integer >= 1), else 1."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return 1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"the environment variable {ENV_VAR} must be an integer >= 1, "
                         f"got {value!r}") from None
    if n < 1:
        raise ValueError(f"the environment variable {ENV_VAR} must be an integer >= 1, got {n}")
    return n


@contextmanager
def computing():
    """The engine's setting for a heavy call: blas_threads() and heap.keep_heap()."""
    with blas_threads() as n, keep_heap():
        yield n


@contextmanager
def blas_threads(n=None):
    """Limit BLAS to n threads inside the `with` block, and restore the previous limit after.

    n: an integer >= 1, or None for the default: the count of an enclosing blas_threads call
    if there is one (a call inside `train` keeps train's limit), else default_threads()
    ($MINISEDD_THREADS, or 1). Yields the count used.
    """
    if n is not None:
        n = check_int("n", n, low=1)
    elif _active:
        yield _active[-1]              # an enclosing call has set the limit: keep it
        return
    count = default_threads() if n is None else n
    _active.append(count)
    try:
        if not _controller:
            _controller.append(ThreadpoolController())
        with _controller[0].limit(limits=count, user_api="blas"):
            yield count
    finally:
        _active.pop()


def uses_blas(method):
    """Decorator: run a network's public method (forward, backward, log_score, ...) inside
    blas_threads(), so that a direct call gets the same bits as the same call made by train or
    sample: one BLAS thread unless MINISEDD_THREADS (or an enclosing blas_threads) says."""
    @functools.wraps(method)
    def limited(*args, **kwargs):
        with blas_threads():
            return method(*args, **kwargs)
    return limited


_pool = []              # (helpers, ThreadPoolExecutor) of helper threads, made at first use
_inside = threading.local()   # .job is True in a thread that is running a job of run_split
PARALLEL_MIN = 1 << 17  # entries: below this, handing work to a helper costs more than it saves
os.register_at_fork(after_in_child=_pool.clear)   # a forked child has no helper threads


def run_split(jobs):
    """Run independent jobs, a list of (size, function) pairs, on the threads minisedd may use.

    Elementwise work (Adam's update, the weight average) gives the same bits however it is
    shared out, as long as no two jobs touch the same array. With k > 1 threads allowed (the
    count of an enclosing blas_threads, else MINISEDD_THREADS) and at least PARALLEL_MIN
    entries in all, the jobs are dealt into k bins, largest first, each to the bin with the
    least so far, and the bins run at once: this thread runs one, helper threads the others
    (NumPy lets go of Python's lock inside its loops, so they run in parallel). Otherwise, and
    inside a job (no nesting), they run here, in order. Each job runs under the caller's
    np.errstate. If a job fails, the others still run to the end and the first error is raised
    after all of them have finished: the caller may then hold a partial update (in order, the
    jobs after the failing one would not have run).
    """
    count = min(len(jobs), _active[-1] if _active else default_threads())
    if count <= 1 or getattr(_inside, "job", False) or sum(size for size, _ in jobs) < PARALLEL_MIN:
        for _, function in jobs:
            function()
        return
    bins, totals = [[] for _ in range(count)], [0] * count
    for size, function in sorted(jobs, key=lambda job: -job[0]):
        k = totals.index(min(totals))                   # the emptiest bin takes the next job
        bins[k].append(function)
        totals[k] += size
    if not _pool or _pool[0][0] < count - 1:            # (helpers, executor): enough helpers?
        if _pool:
            _pool[0][1].shutdown(wait=False)
        _pool[:] = [(count - 1, ThreadPoolExecutor(count - 1, thread_name_prefix="minisedd"))]
    settings = np.geterr()                              # errstate is per thread: pass it on
    futures = [_pool[0][1].submit(_run_all, functions, settings) for functions in bins[1:]]
    errors = []
    try:
        _run_all(bins[0], settings)
    except BaseException as err:                        # wait for the helpers before raising
        errors.append(err)
    concurrent.futures.wait(futures)
    errors += [future.exception() for future in futures if future.exception() is not None]
    if errors:
        raise errors[0]


def _run_all(functions, settings):
    _inside.job = True
    try:
        with np.errstate(**settings):
            for function in functions:
                function()
    finally:
        _inside.job = False
