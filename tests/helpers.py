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


class LevelFree:
    """A score with a network's posteriors pi_i read at one fixed noise level, whatever level
    it is asked at, turned into scores at the asked level (the posterior-to-score map): its
    posteriors do not depend on the level, as the true posterior on the absorbing graph does
    not."""

    def __init__(self, model, sigma_bar):
        self.model, self.graph, self.length = model, model.graph, model.length
        self.sigma_bar = sigma_bar

    def log_score(self, x_t, sigma_bar):
        from minisedd.score import posterior_score_forward
        pi = self.model.posterior(x_t, np.full(len(x_t), self.sigma_bar))
        P = self.graph._transition(np.asarray(sigma_bar, dtype=np.float64))
        return posterior_score_forward(pi, P, x_t, self.graph)[0]


def sharp_network(graph, length, dtype=np.float64):
    """An untrained ScoreMLP whose posteriors are far from uniform (its last layer scaled up)."""
    from minisedd import ScoreMLP
    model = ScoreMLP(graph, length, hidden=8, rng=3, dtype=dtype)
    model.params["W2"] *= 30.0                            # starts at scale 0.1: near uniform
    return model


def order_probabilities(score, states, temperature=1.0):
    """q[o, s]: the probability of writing row states[s] in writing order o (all L! orders),
    for a score whose posteriors do not depend on the level (read at sigma_bar 0.5); each
    posterior taken to the power 1 / temperature and renormalized."""
    import itertools
    graph, L = score.graph, score.length
    orders = list(itertools.permutations(range(L)))
    q = np.ones((len(orders), len(states)))
    for a, order in enumerate(orders):
        for b, row in enumerate(states):
            x = np.full(L, graph.mask_id)
            for i in order:
                log_s = score.log_score(x[None], np.array([0.5]))[0, i, :graph.n_clean]
                p = np.exp((log_s.astype(np.float64) - log_s.max()) / temperature)
                q[a, b] *= p[row[i]] / p.sum()
                x[i] = row[i]
    return q
