"""Adam (Kingma & Ba, 2015), updating a dict of parameter arrays in place."""
import functools

import numpy as np

from .checks import check_float
from .threads import run_split


_REAL_KINDS = "fium"     # the dtype kinds of np.floating and np.integer (timedelta64 is one)


class Adam:
    """Adam with bias correction.

    first <- b1 first + (1 - b1) g;  second <- b2 second + (1 - b2) g^2   (the two moments)
    p <- p - lr * (first / (1 - b1^k)) / (sqrt(second / (1 - b2^k)) + stabilizer)

    params: dict name -> float array (updated in place); stabilizer: the small number that
    keeps the division finite (often called epsilon). `lr` may be changed between steps
    (train uses this for its learning-rate schedule).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), stabilizer=1e-8):
        if not isinstance(params, dict) or not params:
            raise TypeError(f"params must be a non-empty dict of arrays, got {type(params).__name__}")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise TypeError(f"params[{name!r}] must be a float array (updated in place), "
                                f"got {type(p).__name__} {getattr(p, 'dtype', '')}".rstrip())
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (b1, b2), got {betas!r}")
        self.params = params
        self.lr = check_float("lr", lr, low=0.0, low_open=True)
        self.b1 = check_float("betas[0]", betas[0], low=0.0, high=1.0)
        self.b2 = check_float("betas[1]", betas[1], low=0.0, high=1.0)
        if self.b1 == 1.0 or self.b2 == 1.0:
            raise ValueError(f"betas must be < 1, got {tuple(betas)}")
        self.stabilizer = check_float("stabilizer", stabilizer, low=0.0, low_open=True)
        self.k = 0                                                  # steps taken
        # The update is the same arithmetic on every entry, so entries of different parameters
        # can share one call. Small parameters (biases, a toy network's weights) are laid end
        # to end in one flat group: for them the cost of a step is the number of NumPy calls,
        # not the arithmetic (a toy network's six arrays took 84 calls a step, now 25). A large
        # parameter is a group of its own. Each group has flat moments and two work arrays, so
        # a step allocates nothing (a fresh large array costs page faults, on every step).
        # self.first[name] and self.second[name] are views of the moments, shaped like params
        # (change them in place: an array put in their place would not be used).
        names = list(params)
        for i, a in enumerate(names):          # each array once: two names for one array would
            for b in names[i + 1:]:            # update it twice a step (and at once on two threads)
                if np.shares_memory(params[a], params[b]):
                    raise ValueError(f"params[{a!r}] and params[{b!r}] share memory: give Adam "
                                     f"each array once")
        self._groups = _group(params)
        self._names = set(params)
        first, second = {}, {}
        for group in self._groups:
            group.moments(first, second)
        self.first = {k: first[k] for k in params}                  # in the order of params
        self.second = {k: second[k] for k in params}

    def step(self, grads):
        """Apply one update from grads (dict with the keys of params).

        All gradients are checked (shape, finite, g^2 finite) before anything changes, so a bad
        gradient leaves the parameters and moments as they were. The arithmetic is that of the
        formulas above, in their order, one operation at a time.
        """
        self.lr = check_float("lr", self.lr, low=0.0, low_open=True)   # it may have been changed
        if set(self.params) != self._names:
            raise ValueError(f"params must keep the keys Adam was made with, {sorted(self._names)}; "
                             f"it now has {sorted(self.params)} (make a new Adam for new parameters)")
        if set(grads) != set(self.params):
            raise ValueError(f"grads must have the keys {sorted(self.params)}, got {sorted(grads)}")
        for name, p in self.params.items():
            g = grads[name]
            if not isinstance(g, np.ndarray):
                raise TypeError(f"grads[{name!r}] must be an array, got {type(g).__name__}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] must have shape {p.shape}, got {g.shape}")
            if g.dtype.kind not in _REAL_KINDS:
                raise TypeError(f"grads[{name!r}] must be a real array, got dtype {g.dtype}")
        # Each group's gradient, flat and in the parameters' dtype, is what the update uses: it
        # must be finite, and so must its square. An inf or nan (also from a float64 gradient
        # too large for a float32 parameter) is found by the checks, not raised by NumPy.
        with np.errstate(over="ignore", invalid="ignore"):
            flat = [group.gather(grads) for group in self._groups]
            for group, g in zip(self._groups, flat):
                if not _finite_squares(g):                     # some entry: find and name it
                    for name in group.names:
                        _check_gradient(name, grads[name].astype(self.params[name].dtype))
        self.k += 1
        c1 = 1.0 - self.b1 ** self.k                                # bias corrections
        c2 = 1.0 - self.b2 ** self.k
        # the groups are independent: with more than one thread allowed they run side by side
        run_split([(g.size, functools.partial(self._update, group, g, c1, c2))
                   for group, g in zip(self._groups, flat)])

    def _update(self, group, g, c1, c2):
        """One group's update from its gradient g (flat), with the bias corrections c1, c2."""
        first, second, step, denom = group.first, group.second, group.step, group.denom
        first *= self.b1                       # first <- b1 first + (1 - b1) g
        np.multiply(g, 1.0 - self.b1, out=step)
        first += step
        np.multiply(g, 1.0 - self.b2, out=step)   # second <- b2 second + (1 - b2) g^2
        step *= g
        second *= self.b2
        second += step
        np.divide(first, c1, out=step)         # lr * first-hat / (sqrt(second-hat) + stab)
        step *= self.lr
        np.divide(second, c2, out=denom)
        np.sqrt(denom, out=denom)
        denom += self.stabilizer
        step /= denom
        group.subtract(step)                   # p <- p - step


SMALL = 1 << 16     # parameters with fewer entries share a flat group (per dtype)


class _Group:
    """Parameters updated by one set of calls: their entries end to end in flat arrays."""

    def __init__(self, params, names):
        self.params, self.names = params, names
        dtype = params[names[0]].dtype
        sizes = [params[k].size for k in names]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        total = self.offsets[-1]
        self.first, self.second = np.zeros(total, dtype), np.zeros(total, dtype)
        self.step, self.denom = np.empty(total, dtype), np.empty(total, dtype)
        self.g = np.empty(total, dtype) if len(names) > 1 else None

    def _pieces(self, flat):
        for k, a, b in zip(self.names, self.offsets[:-1], self.offsets[1:]):
            yield k, flat[a:b].reshape(self.params[k].shape)

    def moments(self, first, second):
        """Fill the dicts first and second with views of this group's moments."""
        first.update(self._pieces(self.first))
        second.update(self._pieces(self.second))

    def gather(self, grads):
        """This group's gradient, flat and in the parameters' dtype (rounded as astype rounds)."""
        if self.g is None:                         # one parameter: its own array, no copy
            name = self.names[0]
            return grads[name].astype(self.params[name].dtype, copy=False).reshape(-1)
        for k, piece in self._pieces(self.g):
            piece[...] = grads[k]
        return self.g

    def subtract(self, step):
        for k, piece in self._pieces(step):
            self.params[k] -= piece


def _group(params):
    """Large parameters one group each; the small ones one group per dtype."""
    groups, small = [], {}
    for name, p in params.items():
        if p.size >= SMALL:
            groups.append(_Group(params, [name]))
        else:
            small.setdefault(p.dtype, []).append(name)
    groups += [_Group(params, names) for names in small.values()]
    return groups


def _finite_squares(g):
    """Whether every entry of g and of g^2 is finite, in one pass: the sum of squares is finite
    only if every square is (call it inside np.errstate(over="ignore", invalid="ignore"))."""
    return bool(np.isfinite(np.dot(g, g)))


def _check_gradient(name, g):
    """Raise unless every entry of g and of g^2 is finite. The fast path is one pass: the sum of
    squares is finite only if every square is; only when it is not are the entries examined.
    Call it inside np.errstate(over="ignore", invalid="ignore") (as step does): an inf or nan in
    the sum sends us to the checks."""
    if _finite_squares(g.reshape(-1)):
        return
    if not np.isfinite(g).all():
        raise ValueError(f"grads[{name!r}] must be finite, got a non-finite value")
    big = np.abs(g).max()
    if big > np.sqrt(np.finfo(g.dtype).max):   # g^2 overflows: |g| above ~1e154 (float64), ~1e19
        raise FloatingPointError(f"grads[{name!r}] is too large for Adam's second moment "
                                 f"(max |g| = {big:.3g}); the parameters were not updated")
