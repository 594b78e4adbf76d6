"""Keep freed memory in the process while minisedd trains (glibc's malloc, i.e. Linux).

NumPy gives every intermediate result a fresh array and frees it when the last name for it
goes: one training step of the surnames-sized network (benchmarks/bench_train.py) allocates
and frees about 60 arrays of 0.1 to 4 MB. glibc's malloc serves large arrays straight from the
operating system (mmap) and gives memory at the top of its heap back as soon as a few MB of it
are free, so each step asks for it again, and the first write to each fresh 4 KB page costs
a page fault. On the benchmark's machine that was about 15% of the step's time.

``keep_heap()`` sets three of glibc's malloc parameters (mallopt) for the `with` block:

    M_MMAP_THRESHOLD  32 MB   arrays up to 32 MB come from the heap, not straight from mmap
    M_TRIM_THRESHOLD 128 MB   the heap keeps up to 128 MB of free memory ...
    M_TOP_PAD         64 MB   ... and grows 64 MB at a time

and on leaving it sets M_TOP_PAD back to glibc's 128 KB, M_TRIM_THRESHOLD to 64 MB and returns
the free memory to the system (malloc_trim). The state it leaves (arrays up to 32 MB from the
heap, 64 MB kept before trimming) is the one glibc's own rule reaches after a program frees a
32 MB array; but once a program calls mallopt, glibc stops adjusting those thresholds by
itself, so the process keeps that state after the block. Nothing is computed differently: only
where the arrays live. Without glibc (macOS, Windows, musl) keep_heap does nothing, and if glibc
refuses the 32 MB threshold (a 32-bit system) the other two are left alone as well.
"""
import ctypes
import ctypes.util
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3    # mallopt's parameter numbers
MB = 1 << 20
_depth = [0]                        # the enclosing keep_heap blocks


def _glibc():
    """The C library if it is glibc (it has mallopt and malloc_trim), else None."""
    if not hasattr(_glibc, "lib"):
        _glibc.lib = None
        try:
            name = ctypes.util.find_library("c")
            lib = ctypes.CDLL(name) if name else None
            if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim"):
                _glibc.lib = lib
        except OSError:
            pass
    return _glibc.lib


@contextmanager
def keep_heap():
    """Inside the block, freed memory stays in the process (see the module's text)."""
    lib = _glibc() if _depth[0] == 0 else None      # only the outermost block sets anything
    if lib is not None and lib.mallopt(M_MMAP_THRESHOLD, 32 * MB) != 1:   # 1: accepted
        lib = None
    if lib is not None:
        lib.mallopt(M_TRIM_THRESHOLD, 128 * MB)
        lib.mallopt(M_TOP_PAD, 64 * MB)
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        if lib is not None:
            lib.mallopt(M_TOP_PAD, 128 << 10)
            lib.mallopt(M_TRIM_THRESHOLD, 64 * MB)
            lib.malloc_trim(0)
