"""Adam (Kingma & Ba, 2015), updating a dict of parameter arrays in place."""
import numpy as np

from .checks import check_float


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

    def step(self, grads):
        """Apply one update from grads (dict with the keys of params).

        All gradients are checked (shape, finite) and the new moments computed before any
        parameter changes, so a bad gradient leaves the parameters as they were.
        """
        if set(grads) != set(self.params):
            raise ValueError(f"grads must have the keys {sorted(self.params)}, got {sorted(grads)}")
        moments = {}
        for name, p in self.params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] must have shape {p.shape}, got {g.shape}")
            if not np.isfinite(g).all():
                raise ValueError(f"grads[{name!r}] must be finite, got a non-finite value")
            try:
                with np.errstate(over="raise"):   # g^2 overflows for |g| above ~1e154
                    first = self.b1 * self.first[name]       # in place where possible:
                    first += (1.0 - self.b1) * g              # the same numbers, fewer arrays
                    second = (1.0 - self.b2) * g
                    second *= g
                    second += self.b2 * self.second[name]
            except FloatingPointError:
                raise FloatingPointError(f"grads[{name!r}] is too large for Adam's second moment "
                                         f"(max |g| = {np.abs(g).max():.3g}); the parameters were "
                                         f"not updated") from None
            moments[name] = (first, second)
        self.k += 1
        c1 = 1.0 - self.b1 ** self.k                                # bias corrections
        c2 = 1.0 - self.b2 ** self.k
        for name, p in self.params.items():
            self.first[name], self.second[name] = moments[name]
            step = self.first[name] / c1           # lr * first-hat / (sqrt(second-hat) + stab)
            step *= self.lr
            denom = self.second[name] / c2
            np.sqrt(denom, out=denom)
            denom += self.stabilizer
            step /= denom
            p -= step
