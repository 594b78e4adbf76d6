"""Argument checks shared by the public API.

Every public function of minisedd validates what it is given and raises a
``ValueError`` (or ``TypeError`` for a wrong type) whose message names the
argument, says what was expected and shows what was given. The helpers below
keep those messages uniform; each returns the argument converted to the array
type the engine works with.
"""
import numbers

import numpy as np


def _show(value):
    """A short description of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name, value, low=None, high=None):
    """A Python or NumPy integer (not bool) in [low, high]; returns int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(name, value, low=None, high=None, low_open=False):
    """A finite real number in [low, high] (or (low, high] with low_open)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(name, value, choices):
    """One of a few allowed strings."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices, key=str)}, got {_show(value)}")
    return value


def check_rng(name, rng):
    """A source of randomness, turned into a np.random.Generator like np.random.default_rng.

    None: a generator with fresh entropy from the operating system (a different draw every
    call); a non-negative int (Python or NumPy, not bool): a generator seeded with it, so the
    same seed gives the same numbers; a np.random.Generator: returned as is (its state moves on).
    Anything else is a TypeError naming the argument; a negative seed a ValueError.
    """
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"{name} must be None, a non-negative integer seed or a "
                        f"numpy.random.Generator, got {_show(rng)}")
    if rng < 0:
        raise ValueError(f"{name} must be a non-negative integer seed, got {int(rng)}")
    return np.random.default_rng(int(rng))


def check_tokens(name, x, n, ndim=None):
    """An integer array of token ids in [0, n); returns it as int64."""
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if arr.size and np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            raise TypeError(f"{name} must hold integer token ids, got {_show(arr)} "
                            f"(convert with .astype(int))")
        raise TypeError(f"{name} must be an integer array of token ids, got {_show(arr)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} must hold token ids in [0, {n}), "
                         f"got values from {arr.min()} to {arr.max()}")
    return arr.astype(np.int64)


def check_noise(name, noise):
    """A noise schedule: an object with .total(t) and .rate(t) (Geometric, LogLinear)."""
    if isinstance(noise, type):
        raise TypeError(f"{name} must be a noise schedule, not the class {noise.__name__}: "
                        f"call it, e.g. {noise.__name__}()")
    if not (callable(getattr(noise, "total", None)) and callable(getattr(noise, "rate", None))):
        raise TypeError(f"{name} must be a noise schedule with .total(t) and .rate(t) "
                        f"(Geometric or LogLinear), got {_show(noise)}")
    return noise


def check_log_scores(name, log_s, shape):
    """What a score's .log_score returned: an array of shape (B, L, n), no NaN (-inf allowed)."""
    log_s = np.asarray(log_s)
    if log_s.shape != tuple(shape):
        raise ValueError(f"{name} must return log-scores of shape (B, L, n) = {tuple(shape)}, "
                         f"got shape {log_s.shape}")
    if np.isnan(log_s).any():
        raise ValueError(f"{name} returned NaN log-scores (a network with a parameter that is not "
                         f"finite gives these)")
    if np.isposinf(log_s).any():
        raise ValueError(f"{name} returned +inf log-scores (an infinite ratio)")
    return log_s


def check_real_array(name, x, shape=None, low=None, allow_neg_inf=False):
    """A real array, optionally of a given shape and >= low; finite, except that -inf is
    allowed with allow_neg_inf (a log-score of -inf is a ratio of exactly 0)."""
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating)
                                 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array, got {_show(arr)}")
    arr = arr.astype(np.float64)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got shape {arr.shape}")
    if not np.isfinite(arr).all():      # one pass when all is well; else find what is wrong
        if np.isnan(arr).any():
            raise ValueError(f"{name} must not contain NaN")
        if np.isposinf(arr).any() or not allow_neg_inf:
            allowed = "finite or -inf" if allow_neg_inf else "finite"
            raise ValueError(f"{name} must be {allowed}, got an infinite value")
    if low is not None and arr.size and arr.min() < low:
        raise ValueError(f"{name} must be >= {low}, got a minimum of {arr.min()}")
    return arr


def check_sigma_bar(name, sigma_bar, batch=None):
    """Total noise sigma_bar >= 0: a float, or an array of shape (batch,) when batch is given.

    Returns a float64 array of shape (batch,) (the float broadcast) or, without batch,
    the array as given (0-d for a float).
    """
    arr = check_real_array(name, sigma_bar, low=0.0)
    if batch is not None:
        if arr.ndim == 0:
            arr = np.full(batch, float(arr))
        elif arr.shape != (batch,):
            raise ValueError(f"{name} must be a float or have shape ({batch},) to match the batch, "
                             f"got shape {arr.shape}")
    return arr
