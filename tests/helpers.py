"""Small builders shared by several test files (pytest puts tests/ on sys.path)."""
import numpy as np

from minisedd import Absorbing, Graph, Uniform


def random_rate_matrix(rng, n, low=0.2, high=1.5):
    """A valid Q (n, n): off-diagonal rates uniform in [low, high), rows summing to 0."""
    Q = rng.uniform(low, high, size=(n, n))
    np.fill_diagonal(Q, 0.0)
    np.fill_diagonal(Q, -Q.sum(axis=1))
    return Q


def make_graph(kind, n=5):
    """Uniform(n), Absorbing(n) or a fixed random Graph(Q) on n tokens, by kind."""
    if kind == "uniform":
        return Uniform(n)
    if kind == "absorbing":
        return Absorbing(n)
    return Graph(random_rate_matrix(np.random.default_rng(1), n))
