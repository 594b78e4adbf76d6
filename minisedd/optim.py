"""Adam (Kingma & Ba, 2015), updating a dict of parameter arrays in place."""
import numpy as np

from .checks import check_float


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
        self.first = {k: np.zeros_like(p) for k, p in params.items()}    # first moment
        self.second = {k: np.zeros_like(p) for k, p in params.items()}   # second moment
        self.k = 0                                                  # steps taken
        # two work arrays per parameter: each line of the update writes in place into a moment,
        # a parameter or one of these, so a step allocates nothing (a fresh large array costs
        # page faults, on every step)
        self._work = {k: (np.empty_like(p), np.empty_like(p)) for k, p in params.items()}

    def step(self, grads):
        """Apply one update from grads (dict with the keys of params).

        All gradients are checked (shape, finite, g^2 finite) before anything changes, so a bad
        gradient leaves the parameters and moments as they were. The arithmetic is that of the
        formulas above, in their order, one operation at a time.
        """
        self.lr = check_float("lr", self.lr, low=0.0, low_open=True)   # it may have been changed
        if set(grads) != set(self.params):
            raise ValueError(f"grads must have the keys {sorted(self.params)}, got {sorted(grads)}")
        with np.errstate(over="ignore", invalid="ignore"):   # _check_gradient: an inf or nan is
            for name, p in self.params.items():                # found by its checks, not raised
                g = grads[name]
                if not isinstance(g, np.ndarray):
                    raise TypeError(f"grads[{name!r}] must be an array, got {type(g).__name__}")
                if g.shape != p.shape:
                    raise ValueError(f"grads[{name!r}] must have shape {p.shape}, got {g.shape}")
                if g.dtype.kind not in _REAL_KINDS:
                    raise TypeError(f"grads[{name!r}] must be a real array, got dtype {g.dtype}")
                _check_gradient(name, g)
                if g.dtype != p.dtype:           # e.g. a float64 gradient of a float32 parameter
                    _check_gradient(name, g.astype(p.dtype))
        self.k += 1
        c1 = 1.0 - self.b1 ** self.k                                # bias corrections
        c2 = 1.0 - self.b2 ** self.k
        for name, p in self.params.items():
            g = grads[name].astype(p.dtype, copy=False)
            first, second = self.first[name], self.second[name]
            step, denom = self._work[name]
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
            p -= step


def _check_gradient(name, g):
    """Raise unless every entry of g and of g^2 is finite. The fast path is one pass: the sum of
    squares is finite only if every square is; only when it is not are the entries examined.
    Call it inside np.errstate(over="ignore", invalid="ignore") (as step does): an inf or nan in
    the sum sends us to the checks."""
    flat = g.reshape(-1)
    if np.isfinite(np.dot(flat, flat)):
        return
    if not np.isfinite(g).all():
        raise ValueError(f"grads[{name!r}] must be finite, got a non-finite value")
    big = np.abs(g).max()
    if big > np.sqrt(np.finfo(g.dtype).max):   # g^2 overflows: |g| above ~1e154 (float64), ~1e19
        raise FloatingPointError(f"grads[{name!r}] is too large for Adam's second moment "
                                 f"(max |g| = {big:.3g}); the parameters were not updated")
