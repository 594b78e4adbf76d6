"""Bad input at every public entry point raises a clear error naming the argument.

Each case calls one public function or class with one wrong argument and asserts the
error type (TypeError for a wrong type, ValueError for a wrong value, shape or range)
and that the message names the argument (pytest.raises(..., match=...)).
"""
import numpy as np
import pytest

from minisedd import (MADE, TOY_N_CLEAN, TOY_SENTENCES, Absorbing, Adam, CharCorpus, ExactScore,
                      Geometric, Graph, LogLinear, NGram, ScoreMLP, Uniform, agreement_corpus,
                      argmax_ties_low, curve_at, decode, denoise_probs, dse_loss, dse_targets,
                      empirical, encode, euler_probs, expected_dse, gradcheck, l2_loss, nelbo,
                      order_bound, problem, sample, sample_categorical, sample_in_random_order,
                      sample_tv, score_entropy, sigma_features, train, train_autoregressive,
                      tv_distance, tweedie_probs, unique_rows)
from minisedd.nn import MLP

RNG = np.random.default_rng(0)
U4 = Uniform(4)
A4 = Absorbing(4)                         # tokens 0, 1, 2 and mask_id = 3
GEO = Geometric()
LOGLIN = LogLinear()
MODEL = ScoreMLP(U4, 3, hidden=4, rng=0)
ABS_MODEL = ScoreMLP(A4, 3, hidden=4, rng=0)
SEQS = np.array([[0, 1, 2], [2, 1, 0]])
EXACT = ExactScore(U4, SEQS)
X = np.zeros((2, 3), dtype=int)           # a valid batch (B, L) = (2, 3)
LOG_S = np.zeros((2, 3, 4))               # valid log-scores (B, L, n)
GOOD_Q = np.array([[-1.0, 1.0], [2.0, -2.0]])


class FakeScore:
    """A score with a given graph and length, whose log_score returns arrays of a given shape."""

    def __init__(self, graph, length, shape=None, fill=0.0):
        self.graph, self.length, self.shape, self.fill = graph, length, shape, fill

    def log_score(self, x_t, sigma_bar):
        shape = self.shape or (x_t.shape[0], self.length, self.graph.n)
        return np.full((x_t.shape[0],) + tuple(shape[1:]), self.fill)


class NoGraph:
    length = 3

    def log_score(self, x_t, sigma_bar):
        return LOG_S


def case(call, error, match, id):
    return pytest.param(call, error, match, id=id)


CASES = [
    # -- graphs --------------------------------------------------------------------------------
    case(lambda: Graph("Q"), TypeError, "Q must be a real array", "Graph-Q-string"),
    case(lambda: Graph(np.zeros((2, 3))), ValueError, "Q must be a square", "Graph-Q-not-square"),
    case(lambda: Graph(np.zeros((2, 2, 2))), ValueError, "Q must be a square", "Graph-Q-3d"),
    case(lambda: Graph([[0.0]]), ValueError, r"n \(the size of Q\) must be >= 2", "Graph-n-1"),
    case(lambda: Graph([[-1.0, 1.0], [-1.0, 1.0]]),
         ValueError, "Q must have non-negative off-diagonal", "Graph-Q-negative-rate"),
    case(lambda: Graph([[-1.0, 2.0], [1.0, -1.0]]),
         ValueError, "Q must have rows summing to 0", "Graph-Q-rows-not-zero"),
    case(lambda: Graph([[np.nan, 0.0], [0.0, 0.0]]),
         ValueError, "Q must not contain NaN", "Graph-Q-nan"),
    case(lambda: Graph([[-np.inf, np.inf], [0.0, 0.0]]),
         ValueError, "Q must be finite", "Graph-Q-inf"),
    case(lambda: Uniform(4.0), TypeError, "n must be an integer", "Uniform-n-float"),
    case(lambda: Uniform("4"), TypeError, "n must be an integer", "Uniform-n-string"),
    case(lambda: Uniform(True), TypeError, "n must be an integer", "Uniform-n-bool"),
    case(lambda: Uniform(1), ValueError, "n must be >= 2", "Uniform-n-1"),
    case(lambda: Absorbing(1), ValueError, "n must be >= 2", "Absorbing-n-1"),
    case(lambda: Absorbing(2.5), TypeError, "n must be an integer", "Absorbing-n-float"),
    case(lambda: U4.transition(-0.1), ValueError, "sigma_bar must be >= 0", "transition-negative"),
    case(lambda: U4.transition("a"),
         TypeError, "sigma_bar must be a real array", "transition-string"),
    case(lambda: U4.transition(np.ones((2, 2))),
         ValueError, "sigma_bar must be a float or a 1-D", "transition-2d"),
    case(lambda: A4.transition(np.nan),
         ValueError, "sigma_bar must not contain NaN", "transition-nan"),
    case(lambda: A4.transition(np.inf), ValueError, "sigma_bar must be finite", "transition-inf"),
    case(lambda: U4.sample_transition(X.astype(float), 0.1, RNG),
         TypeError, "x0 must hold integer", "sample_transition-x0-float"),
    case(lambda: U4.sample_transition(X + 4, 0.1, RNG),
         ValueError, r"x0 must hold token ids in \[0, 4\)", "sample_transition-x0-out-of-range"),
    case(lambda: U4.sample_transition(X - 1, 0.1, RNG),
         ValueError, r"x0 must hold token ids in \[0, 4\)", "sample_transition-x0-negative"),
    case(lambda: U4.sample_transition(X[0], 0.1, RNG),
         ValueError, "x0 must have 2 dimension", "sample_transition-x0-1d"),
    case(lambda: U4.sample_transition(X, np.ones(3), RNG),
         ValueError, r"sigma_bar must be a float or have shape \(2,\)",
         "sample_transition-sigma_bar-shape"),
    case(lambda: U4.sample_transition(X, -1.0, RNG),
         ValueError, "sigma_bar must be >= 0", "sample_transition-sigma_bar-negative"),
    case(lambda: U4.sample_transition(X, 0.1, 1.5),
         TypeError, "rng must be None, a non-negative integer seed", "sample_transition-rng-float"),
    case(lambda: U4.sample_transition(X, 0.1, -1),
         ValueError, "rng must be a non-negative integer seed", "sample_transition-rng-negative"),
    case(lambda: U4.sample_limit((2, -1), RNG),
         ValueError, "shape entry must be >= 0", "sample_limit-negative"),
    case(lambda: U4.sample_limit((2.0, 3), RNG),
         TypeError, "shape entry must be an integer", "sample_limit-float"),
    case(lambda: A4.sample_limit((2, 3), "rng"),
         TypeError, "rng must be None, a non-negative integer seed", "sample_limit-rng"),
    # -- noise schedules -----------------------------------------------------------------------
    case(lambda: Geometric(-1.0, 2.0),
         ValueError, "sigma_min must be > 0", "Geometric-sigma_min-negative"),
    case(lambda: Geometric(0.0, 2.0),
         ValueError, "sigma_min must be > 0", "Geometric-sigma_min-zero"),
    case(lambda: Geometric(2.0, 1.0),
         ValueError, "sigma_max must be > sigma_min", "Geometric-order"),
    case(lambda: Geometric("a"), TypeError, "sigma_min must be a real number", "Geometric-string"),
    case(lambda: Geometric(1e-4, np.inf), ValueError, "sigma_max must be finite", "Geometric-inf"),
    case(lambda: LogLinear(0.0), ValueError, "eps must be > 0", "LogLinear-eps-zero"),
    case(lambda: LogLinear(1.0), ValueError, "eps must be < 1", "LogLinear-eps-one"),
    case(lambda: LogLinear(None), TypeError, "eps must be a real number", "LogLinear-eps-none"),
    case(lambda: GEO.total(1.5), ValueError, r"t must lie in \[0, 1\]", "total-t-above-1"),
    case(lambda: LOGLIN.total(-0.1), ValueError, r"t must lie in \[0, 1\]", "total-t-negative"),
    case(lambda: GEO.total("t"), TypeError, "t must be a real array", "total-t-string"),
    case(lambda: LOGLIN.rate(np.array([0.5, 2.0])),
         ValueError, r"t must lie in \[0, 1\]", "rate-t-above-1"),
    case(lambda: GEO.rate(np.nan), ValueError, "t must not contain NaN", "rate-t-nan"),
    # -- losses --------------------------------------------------------------------------------
    case(lambda: score_entropy(np.zeros(3), np.ones(4)),
         ValueError, "ratio must have the shape of log_s", "score_entropy-shape"),
    case(lambda: score_entropy(np.zeros(3), -np.ones(3)),
         ValueError, "ratio must be >= 0", "score_entropy-negative-ratio"),
    case(lambda: score_entropy(np.zeros(3), np.ones(3), -1.0),
         ValueError, "weight must be >= 0", "score_entropy-negative-weight"),
    case(lambda: score_entropy(np.zeros(3), np.ones(3), np.ones(2)),
         ValueError, "weight must broadcast", "score_entropy-weight-shape"),
    case(lambda: score_entropy("z", np.ones(3)),
         TypeError, "log_s must be a real array", "score_entropy-string"),
    case(lambda: score_entropy(np.array([np.nan]), np.ones(1)),
         ValueError, "log_s must not contain NaN", "score_entropy-nan"),
    case(lambda: l2_loss(np.zeros(3), -np.ones(3)),
         ValueError, "ratio must be >= 0", "l2_loss-negative-ratio"),
    case(lambda: l2_loss(np.array([np.inf]), np.ones(1)),
         ValueError, "s must be finite", "l2_loss-inf"),
    case(lambda: l2_loss(np.zeros((2, 2)), np.ones(4)),
         ValueError, "ratio must have the shape of s", "l2_loss-shape"),
    case(lambda: dse_loss("graph", LOG_S, X, X, 0.1),
         TypeError, "graph must be a minisedd Graph", "dse_loss-graph"),
    case(lambda: dse_loss(U4, np.zeros((2, 3, 5)), X, X, 0.1),
         ValueError, r"log_s must have shape \(B, L, n\)", "dse_loss-log_s-shape"),
    case(lambda: dse_loss(U4, LOG_S, X.astype(float), X, 0.1),
         TypeError, "x_t must hold integer", "dse_loss-x_t-float"),
    case(lambda: dse_loss(U4, LOG_S, X, X, -0.1),
         ValueError, "sigma_bar must be >= 0", "dse_loss-sigma_bar-negative"),
    case(lambda: dse_targets(A4, X, X + 3, 0.1),
         ValueError, r"x0 must hold token ids in \[0, 3\)", "dse_targets-x0-mask"),
    case(lambda: dse_targets(U4, X, X[:, :2], 0.1),
         ValueError, "x0 must have the shape of x_t", "dse_targets-x0-shape"),
    case(lambda: dse_targets(U4, X + 7, X, 0.1),
         ValueError, r"x_t must hold token ids in \[0, 4\)", "dse_targets-x_t-out-of-range"),
    case(lambda: dse_targets(A4, X + 3, X, 0.0),
         ValueError, r"x_t\[0, 0\] = 3 cannot be reached", "dse_targets-impossible-x_t"),
    case(lambda: dse_targets(None, X, X, 0.1),
         TypeError, "graph must be a minisedd Graph", "dse_targets-graph"),
    # -- the score model -----------------------------------------------------------------------
    case(lambda: ScoreMLP("uniform", 3),
         TypeError, "graph must be a minisedd Graph", "ScoreMLP-graph"),
    case(lambda: ScoreMLP(U4, 0), ValueError, "length must be >= 1", "ScoreMLP-length-0"),
    case(lambda: ScoreMLP(U4, 3.0),
         TypeError, "length must be an integer", "ScoreMLP-length-float"),
    case(lambda: ScoreMLP(U4, 3, hidden=0), ValueError, "hidden must be >= 1", "ScoreMLP-hidden-0"),
    case(lambda: ScoreMLP(U4, 3, depth=1.5),
         TypeError, "depth must be an integer", "ScoreMLP-depth-float"),
    case(lambda: ScoreMLP(U4, 3, rng=-1),
         ValueError, "rng must be a non-negative integer seed", "ScoreMLP-rng-negative"),
    case(lambda: ScoreMLP(U4, 3, rng="abc"),
         TypeError, "rng must be None, a non-negative integer seed", "ScoreMLP-rng-string"),
    case(lambda: ScoreMLP(U4, 3, rng=True),
         TypeError, "rng must be None, a non-negative integer seed", "ScoreMLP-rng-bool"),
    case(lambda: ScoreMLP(U4, 3, activation="tanh"),
         ValueError, "activation must be one of", "ScoreMLP-activation"),
    case(lambda: MODEL.log_score(np.zeros((2, 4), int), 0.1),
         ValueError, r"x_t must have shape \(B, 3\)", "log_score-length"),
    case(lambda: MODEL.log_score(X + 4, 0.1),
         ValueError, r"x_t must hold token ids in \[0, 4\)", "log_score-out-of-range"),
    case(lambda: MODEL.log_score(X.astype(float), 0.1),
         TypeError, "x_t must hold integer", "log_score-float"),
    case(lambda: MODEL.log_score(X[0], 0.1),
         ValueError, "x_t must have 2 dimension", "log_score-1d"),
    case(lambda: MODEL.log_score(X, -0.1),
         ValueError, "sigma_bar must be >= 0", "log_score-sigma_bar-negative"),
    case(lambda: MODEL.log_score(X, np.ones(3)),
         ValueError, r"sigma_bar must be a float or have shape \(2,\)",
         "log_score-sigma_bar-shape"),
    case(lambda: MODEL.posterior(X, np.nan),
         ValueError, "sigma_bar must not contain NaN", "posterior-nan"),
    # -- the exact score -----------------------------------------------------------------------
    case(lambda: ExactScore("U4", SEQS),
         TypeError, "graph must be a minisedd Graph", "ExactScore-graph"),
    case(lambda: ExactScore(A4, SEQS + 1),
         ValueError, r"sequences must hold token ids in \[0, 3\)", "ExactScore-sequences-mask"),
    case(lambda: ExactScore(U4, SEQS.astype(float)),
         TypeError, "sequences must hold integer", "ExactScore-sequences-float"),
    case(lambda: ExactScore(U4, SEQS[0]),
         ValueError, "sequences must have 2 dimension", "ExactScore-sequences-1d"),
    case(lambda: ExactScore(U4, np.zeros((0, 3), int)),
         ValueError, "sequences must hold at least one", "ExactScore-sequences-empty"),
    case(lambda: ExactScore(U4, SEQS, [1.5, -0.5]),
         ValueError, "probs must be non-negative", "ExactScore-probs-negative"),
    case(lambda: ExactScore(U4, SEQS, [0.5, 0.4]),
         ValueError, "probs must sum to 1", "ExactScore-probs-sum"),
    case(lambda: ExactScore(U4, SEQS, [1.0]),
         ValueError, r"probs must have shape \(2,\)", "ExactScore-probs-shape"),
    case(lambda: ExactScore(U4, SEQS, ["a", "b"]),
         TypeError, "probs must be a real array", "ExactScore-probs-string"),
    case(lambda: EXACT.log_score(np.zeros((1, 2), int), 0.1),
         ValueError, r"x_t must have shape \(B, 3\)", "ExactScore.log_score-length"),
    case(lambda: EXACT.prob_t(X, -1.0),
         ValueError, "sigma_bar must be >= 0", "ExactScore.prob_t-negative"),
    # -- the likelihood ------------------------------------------------------------------------
    case(lambda: nelbo(EXACT, GEO, X, method="bogus"),
         ValueError, "method must be one of", "nelbo-method"),
    case(lambda: nelbo(EXACT, GEO, np.zeros((1, 2), int)),
         ValueError, r"x0 must have shape \(B, 3\)", "nelbo-x0-length"),
    case(lambda: nelbo(EXACT, GEO, X + 4),
         ValueError, r"x0 must hold token ids in \[0, 4\)", "nelbo-x0-range"),
    case(lambda: nelbo(ABS_MODEL, LOGLIN, X + 3),
         ValueError, r"x0 must hold token ids in \[0, 3\)", "nelbo-x0-mask"),
    case(lambda: nelbo(EXACT, GEO, X.astype(float)),
         TypeError, "x0 must hold integer", "nelbo-x0-float"),
    case(lambda: nelbo(object(), GEO, X),
         TypeError, "score must provide .graph", "nelbo-score-object"),
    case(lambda: nelbo(NoGraph(), GEO, X),
         TypeError, "score must provide .graph", "nelbo-score-no-graph"),
    case(lambda: nelbo(FakeScore("U4", 3), GEO, X),
         TypeError, "score.graph must be a minisedd Graph", "nelbo-score-graph-string"),
    case(lambda: nelbo(FakeScore(U4, 3.0), GEO, X),
         TypeError, "score.length must be an integer", "nelbo-score-length-float"),
    case(lambda: nelbo(FakeScore(U4, 3, shape=(0, 3, 5)), GEO, X),
         ValueError, r"score.log_score must return log-scores of shape", "nelbo-score-wrong-n"),
    case(lambda: nelbo(FakeScore(U4, 3, shape=(0, 2, 4)), GEO, X, method="mc"),
         ValueError, r"score.log_score must return log-scores of shape",
         "nelbo-score-wrong-length"),
    case(lambda: nelbo(FakeScore(U4, 3, fill=np.nan), GEO, X),
         ValueError, "score.log_score returned NaN", "nelbo-score-nan"),
    case(lambda: nelbo(EXACT, "geometric", X),
         TypeError, "noise must be a noise schedule", "nelbo-noise"),
    case(lambda: nelbo(EXACT, GEO, X, nodes=0), ValueError, "nodes must be >= 1", "nelbo-nodes"),
    case(lambda: nelbo(EXACT, GEO, X, method="mc", num_samples=1),
         ValueError, "num_samples must be >= 2", "nelbo-num_samples"),
    case(lambda: nelbo(EXACT, GEO, X, method="mc_masks", rng=0),
         ValueError, "method='mc_masks'.*needs the absorbing graph.*'uniform'",
         "nelbo-mc_masks-graph"),
    case(lambda: nelbo(EXACT, GEO, X, method="mc", rng=1.5),
         TypeError, "rng must be None, a non-negative integer seed", "nelbo-rng"),
    case(lambda: nelbo(EXACT, GEO, X, max_states=10),
         ValueError, "max_states=10", "nelbo-max_states"),
    case(lambda: expected_dse(EXACT, X, -1.0),
         ValueError, "sigma_bar must be >= 0", "expected_dse-sigma_bar"),
    case(lambda: expected_dse(EXACT, np.zeros((2, 4), int), 0.5),
         ValueError, r"x0 must have shape \(B, 3\)", "expected_dse-x0-length"),
    # -- the samplers --------------------------------------------------------------------------
    case(lambda: sample(EXACT, GEO, 4, steps=0),
         ValueError, "steps must be >= 1", "sample-steps-0"),
    case(lambda: sample(EXACT, GEO, 4, steps=2.0),
         TypeError, "steps must be an integer", "sample-steps-float"),
    case(lambda: sample(EXACT, GEO, 4, method="ancestral"),
         ValueError, "method must be one of", "sample-method"),
    case(lambda: sample(EXACT, GEO, 0),
         ValueError, "num_samples must be >= 1", "sample-num_samples-0"),
    case(lambda: sample(EXACT, GEO, 4.0),
         TypeError, "num_samples must be an integer", "sample-num_samples-float"),
    case(lambda: sample(EXACT, "geo", 4),
         TypeError, "noise must be a noise schedule", "sample-noise"),
    case(lambda: sample(EXACT, GEO, 4, rng="abc"),
         TypeError, "rng must be None, a non-negative integer seed", "sample-rng"),
    case(lambda: sample(EXACT, GEO, 4, rng=-1),
         ValueError, "rng must be a non-negative integer seed", "sample-rng-negative"),
    case(lambda: sample(EXACT, GEO, 4, t_end=0.0), ValueError, "t_end must be > 0", "sample-t_end"),
    case(lambda: order_bound(EXACT, GEO, X),
         ValueError, "score.graph must be an Absorbing graph", "order_bound-uniform"),
    case(lambda: order_bound(ABS_MODEL, LOGLIN, X, orders=1),
         ValueError, "orders must be >= 2", "order_bound-orders-1"),
    case(lambda: order_bound(ABS_MODEL, LOGLIN, X + 3),
         ValueError, "x0", "order_bound-x0-mask"),
    case(lambda: order_bound(ABS_MODEL, LOGLIN, np.zeros((2, 4), int)),
         ValueError, r"x0 must have shape \(B, 3\)", "order_bound-x0-length"),
    case(lambda: order_bound(ABS_MODEL, LOGLIN, X, rng="abc"),
         TypeError, "rng must be None, a non-negative integer seed", "order_bound-rng"),
    case(lambda: sample_in_random_order(EXACT, GEO, 4),
         ValueError, "score.graph must be an Absorbing graph", "random_order-uniform"),
    case(lambda: sample_in_random_order(ABS_MODEL, LOGLIN, 0),
         ValueError, "num_samples must be >= 1", "random_order-num_samples-0"),
    case(lambda: sample_in_random_order(ABS_MODEL, "loglin", 4),
         TypeError, "noise must be a noise schedule", "random_order-noise"),
    case(lambda: sample_in_random_order(ABS_MODEL, LOGLIN, 4, rng="abc"),
         TypeError, "rng must be None, a non-negative integer seed", "random_order-rng"),
    case(lambda: sample_in_random_order(ABS_MODEL, LOGLIN, 4, temperature=0.0),
         ValueError, "temperature must be > 0.0", "random_order-temperature-0"),
    case(lambda: sample_in_random_order(FakeScore(A4, 3, fill=-np.inf), LOGLIN, 4),
         ValueError, "score.log_score gives no finite score", "random_order-no-token"),
    case(lambda: sample_in_random_order(FakeScore(A4, 3, shape=(0, 3, 5)), LOGLIN, 4),
         ValueError, r"score.log_score must return log-scores of shape",
         "random_order-score-wrong-n"),
    case(lambda: sample(EXACT, GEO, 4, condition=np.zeros(2, int)),
         ValueError, "condition must have shape", "sample-condition-shape"),
    case(lambda: sample(EXACT, GEO, 4, condition=np.full(3, 5)),
         ValueError, r"condition must hold clean token ids in \[0, 4\)", "sample-condition-range"),
    case(lambda: sample(ABS_MODEL, LOGLIN, 4, condition=np.full(3, 3)),
         ValueError, r"condition must hold clean token ids in \[0, 3\)", "sample-condition-mask"),
    case(lambda: sample(EXACT, GEO, 4, condition=np.zeros(3)),
         TypeError, "condition must be an integer array", "sample-condition-float"),
    case(lambda: sample(FakeScore(U4, 3, shape=(0, 3, 5)), GEO, 4),
         ValueError, r"score.log_score must return log-scores of shape", "sample-score-wrong-n"),
    case(lambda: sample(FakeScore(U4, 3, shape=(0, 2, 4)), GEO, 4),
         ValueError, r"score.log_score must return log-scores of shape",
         "sample-score-wrong-length"),
    case(lambda: sample(FakeScore(U4, 3, fill=np.nan), GEO, 4),
         ValueError, "score.log_score returned NaN", "sample-score-nan"),
    case(lambda: sample(FakeScore(U4, 0), GEO, 4),
         ValueError, "score.length must be >= 1", "sample-score-length-0"),
    case(lambda: sample(FakeScore(None, 3), GEO, 4),
         TypeError, "score.graph must be a minisedd Graph", "sample-score-graph-none"),
    case(lambda: denoise_probs(EXACT, X, 0.0),
         ValueError, "sigma_bar must be > 0", "denoise_probs-sigma_bar-0"),
    case(lambda: denoise_probs(EXACT, X, np.ones(2)),
         TypeError, "sigma_bar must be a real number", "denoise_probs-sigma_bar-array"),
    case(lambda: denoise_probs(EXACT, np.zeros((1, 2), int), 0.1),
         ValueError, r"x_t must have shape \(B, 3\)", "denoise_probs-x_t-length"),
    case(lambda: denoise_probs(EXACT, X + 4, 0.1),
         ValueError, r"x_t must hold token ids in \[0, 4\)", "denoise_probs-x_t-range"),
    case(lambda: denoise_probs(FakeScore(U4, 3, shape=(0, 3, 2)), X, 0.1),
         ValueError, r"score.log_score must return log-scores of shape",
         "denoise_probs-score-wrong-n"),
    # -- training ------------------------------------------------------------------------------
    case(lambda: train(MODEL, X, GEO, 0), ValueError, "steps must be >= 1", "train-steps-0"),
    case(lambda: train(MODEL, X, GEO, 2, callback="print"),
         TypeError, "callback must be None or a function", "train-callback"),
    case(lambda: train(MODEL, X, GEO, 2, callback_every=1),
         ValueError, "callback_every needs a callback", "train-callback_every-alone"),
    case(lambda: train(MODEL, X, GEO, 2, callback=print, callback_every=0),
         ValueError, "callback_every must be >= 1", "train-callback_every-0"),
    case(lambda: train(MODEL, X, GEO, 10.0),
         TypeError, "steps must be an integer", "train-steps-float"),
    case(lambda: train(MODEL, X + 4, GEO, 2),
         ValueError, r"data must hold token ids in \[0, 4\)", "train-data-range"),
    case(lambda: train(ABS_MODEL, X + 3, LOGLIN, 2),
         ValueError, r"data must hold token ids in \[0, 3\)", "train-data-mask"),
    case(lambda: train(MODEL, np.zeros((4, 2), int), GEO, 2),
         ValueError, r"data must have shape \(M, 3\)", "train-data-length"),
    case(lambda: train(MODEL, np.zeros((0, 3), int), GEO, 2),
         ValueError, r"data must have shape \(M, 3\)", "train-data-empty"),
    case(lambda: train(MODEL, X.astype(float), GEO, 2),
         TypeError, "data must hold integer", "train-data-float"),
    case(lambda: train(MODEL, X, GEO, 2, lr=-1.0),
         ValueError, "lr must be > 0", "train-lr-negative"),
    case(lambda: train(MODEL, X, GEO, 2, batch_size=0),
         ValueError, "batch_size must be >= 1", "train-batch_size"),
    case(lambda: train(MODEL, X, GEO, 2, rng=1.5),
         TypeError, "rng must be None, a non-negative integer seed", "train-rng"),
    case(lambda: train(MODEL, X, GEO, 2, t_min=0.0), ValueError, "t_min must be > 0", "train-t_min"),
    case(lambda: train(MODEL, X, GEO, 2, cosine="yes"),
         TypeError, "cosine must be True or False", "train-cosine"),
    case(lambda: train(MODEL, X, GEO, 2, ema=1.0), ValueError, "ema must be < 1", "train-ema"),
    case(lambda: train(MODEL, X, GEO, 2, log_every=-1),
         ValueError, "log_every must be >= 0", "train-log_every"),
    case(lambda: train(MODEL, X, GEO, 2, printer="stdout"),
         TypeError, "printer must be callable", "train-printer"),
    case(lambda: train(MODEL, X, "geometric", 2),
         TypeError, "noise must be a noise schedule", "train-noise"),
    case(lambda: train(EXACT, X, GEO, 2),
         TypeError, "model must be trainable", "train-model-exact-score"),
    case(lambda: train("model", X, GEO, 2),
         TypeError, "model must provide .graph", "train-model-string"),
    # -- optimizer, gradient check, data -------------------------------------------------------
    case(lambda: Adam([np.zeros(2)]),
         TypeError, "params must be a non-empty dict", "Adam-params-list"),
    case(lambda: Adam({}), TypeError, "params must be a non-empty dict", "Adam-params-empty"),
    case(lambda: Adam({"w": np.zeros(2, dtype=int)}),
         TypeError, r"params\['w'\] must be a float array", "Adam-params-int"),
    case(lambda: Adam({"w": [0.0, 1.0]}),
         TypeError, r"params\['w'\] must be a float array", "Adam-params-list-value"),
    case(lambda: Adam({"w": np.zeros(2)}, lr=0.0), ValueError, "lr must be > 0", "Adam-lr"),
    case(lambda: Adam({"w": np.zeros(2)}, betas=(1.0, 0.9)),
         ValueError, "betas must be < 1", "Adam-betas-1"),
    case(lambda: Adam({"w": np.zeros(2)}, betas=0.9),
         TypeError, "betas must be a pair", "Adam-betas-float"),
    case(lambda: Adam({"w": np.zeros(2)}, stabilizer=-1e-8),
         ValueError, "stabilizer must be > 0", "Adam-stabilizer"),
    case(lambda: Adam({"w": np.zeros(2)}).step({"v": np.zeros(2)}),
         ValueError, "grads must have the keys", "Adam.step-keys"),
    case(lambda: Adam({"w": np.zeros(2)}).step({"w": np.zeros(3)}),
         ValueError, r"grads\['w'\] must have shape", "Adam.step-shape"),
    case(lambda: gradcheck(3, np.zeros(3), np.ones(3), rng=0),
         TypeError, "f must be callable", "gradcheck-f"),
    case(lambda: gradcheck(np.sum, np.zeros(3, np.float32), np.ones(3), rng=0),
         TypeError, r"inputs\[0\] must be a float64 array", "gradcheck-float32"),
    case(lambda: gradcheck(np.sum, [np.zeros(3)], [np.ones(4)], rng=0),
         ValueError, r"analytic gradient for input 0 must have shape \(3,\)",
         "gradcheck-analytic-shape"),
    case(lambda: gradcheck(np.sum, np.zeros(3), np.ones(3), h=0.0, rng=0),
         ValueError, "h must be > 0", "gradcheck-h"),
    case(lambda: gradcheck(np.sum, np.zeros(3), np.ones(3), max_entries=0, rng=0),
         ValueError, "max_entries must be >= 1", "gradcheck-max_entries"),
    case(lambda: gradcheck(np.sum, {"a": np.zeros(3)}, {"b": np.ones(3)}, rng=0),
         ValueError, "analytic must have the keys", "gradcheck-analytic-keys"),
    case(lambda: encode("I hate AI"),
         ValueError, "words must come from the vocabulary", "encode-unknown-word"),
    case(lambda: encode(3), TypeError, "words must be a string or a list", "encode-int"),
    case(lambda: encode([1, 4]), TypeError, "words must be a string or a list", "encode-ids"),
    case(lambda: decode(np.array([9])),
         ValueError, r"x must hold token ids in \[0, 9\)", "decode-out-of-range"),
    case(lambda: decode(np.array([1.0, 4.0])), TypeError, "x must hold integer", "decode-float"),
    case(lambda: decode(np.zeros((2, 2, 2), int)),
         ValueError, r"x must have shape \(L,\) or \(N, L\)", "decode-3d"),
    case(lambda: problem("bipartite", TOY_N_CLEAN),
         ValueError, "kind must be one of", "problem-kind"),
    case(lambda: problem("uniform", 8.0), TypeError, "n_clean must be an integer", "problem-n_clean"),
    case(lambda: problem("absorbing", 0), ValueError, "n_clean must be >= 1", "problem-n_clean-0"),
    case(lambda: agreement_corpus(rng=-1),
         ValueError, "rng must be a non-negative integer seed", "agreement_corpus-rng"),
    case(lambda: MLP([2, 3], "relu", rng=[1, 2]),
         TypeError, "rng must be None, a non-negative integer seed", "MLP-rng-list"),
    # -- infinite log-scores: -inf is a ratio of 0, +inf has no meaning ---------------------------
    case(lambda: score_entropy(np.array([np.inf]), np.array([1.0])),
         ValueError, "log_s must be finite or -inf", "score_entropy-log_s-plus-inf"),
    case(lambda: dse_loss(U4, np.full((2, 3, 4), np.inf), X, X, np.ones(2)),
         ValueError, "log_s must be finite or -inf", "dse_loss-log_s-plus-inf"),
    case(lambda: sample(FakeScore(U4, 3, fill=np.inf), GEO, 2, steps=1),
         ValueError, r"score.log_score returned \+inf", "sample-score-plus-inf"),
    # a score that puts 0 on every clean token leaves the last (denoising) step nothing to draw
    case(lambda: sample(FakeScore(A4, 3, fill=-np.inf), LOGLIN, 2, steps=1),
         ValueError, "no valid probabilities", "sample-score-all-zero"),
    # -- low-level draws: rng follows the same rule as everywhere ------------------------------
    case(lambda: sample_categorical(np.array([0.5, 0.5]), np.random.RandomState(0)),
         TypeError, "rng must be None, a non-negative integer seed", "sample_categorical-rng-legacy"),
    case(lambda: sample_categorical(np.array([0.5, -0.5, 1.0]), RNG),
         ValueError, "probs must be >= 0", "sample_categorical-negative"),
    case(lambda: sample_categorical(np.array([[0.5, np.nan]]), RNG),
         ValueError, "probs must not contain NaN", "sample_categorical-nan"),
    case(lambda: sample_categorical(np.zeros((2, 3)), RNG),
         ValueError, "probs must have a positive sum in every row", "sample_categorical-zero-row"),
    case(lambda: tweedie_probs(U4, np.ones((1, 3, 4)), X[:1], 0.0),
         ValueError, "delta must be > 0", "tweedie_probs-delta-0"),
]


@pytest.mark.parametrize("call, error, match", CASES)
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_every_case_has_its_own_id():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_valid_calls_next_to_the_bad_ones_work():
    """The fixtures above are valid: the errors come from the one bad argument."""
    assert MODEL.log_score(X, 0.1).shape == (2, 3, 4)
    bound, stderr = nelbo(EXACT, GEO, SEQS)
    assert bound.shape == (2,) and np.array_equal(stderr, np.zeros(2))
    assert sample(EXACT, GEO, 4, steps=2, rng=0).shape == (4, 3)
    assert denoise_probs(EXACT, X, 0.1).shape == (2, 3, 4)
    data = TOY_SENTENCES[:, :3] % 4
    assert train(ScoreMLP(U4, 3, hidden=4, rng=0), data, GEO, 2, rng=0, log_every=0).shape == (2,)
    assert dse_loss(U4, LOG_S, X, X, 0.1)[0].shape == (2,)
    assert sample(FakeScore(U4, 3), GEO, 3, steps=2, rng=0).shape == (3, 3)
    assert np.array_equal(encode(["I", "love"]), [1, 4]) and decode(np.array([1, 4])) == "I love"


@pytest.mark.parametrize("rng", [None, 0, 7, np.int64(3), np.random.default_rng(1)])
def test_rng_accepts_none_a_seed_or_a_generator(rng):
    """None, a non-negative int (Python or NumPy) and a Generator are all valid everywhere."""
    assert U4.sample_limit((2, 3), rng).shape == (2, 3)
    assert sample_categorical(np.array([[0.5, 0.5]]), rng).shape == (1,)


def test_the_same_seed_gives_the_same_numbers_and_none_fresh_ones():
    a = sample(EXACT, GEO, 50, steps=2, rng=5)
    b = sample(EXACT, GEO, 50, steps=2, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    fresh = [U4.sample_limit(64, None) for _ in range(2)]
    assert not np.array_equal(*fresh)       # fresh entropy: equal with probability 4^-64


# -- non-finite values and inputs that used to pass silently ------------------------------------
def test_a_network_with_a_nan_parameter_gives_nan_scores_not_ratios_of_one():
    """A NaN posterior stays NaN in the score (it used to become log s = 0, a ratio of 1, and
    sample and nelbo went on with normal-looking output); whoever reads it says so."""
    model = ScoreMLP(A4, 3, hidden=4, rng=0)
    model.params["W1"][0, 0] = np.nan
    assert np.isnan(model.log_score(X, 0.5)).all()
    with pytest.raises(ValueError, match="NaN log-scores .*parameter that is not finite"):
        sample(model, LOGLIN, 2, steps=2, rng=0)
    with pytest.raises(ValueError, match="NaN log-scores"):
        nelbo(model, LOGLIN, X, method="mc", rng=0)
    with pytest.raises(ValueError, match="cannot save a model whose parameters hold NaN or inf: W1"):
        model.save("never_written.npz")


def test_a_probability_of_exactly_zero_still_gives_a_ratio_of_one():
    """The other side of the line above: an unreachable token (pi = 0 exactly) is not NaN."""
    exact = ExactScore(A4, np.array([[0, 1, 2]]))
    log_s = exact.log_score(np.array([[1, 1, 3]]), 0.5)       # x_0 = 1 has probability 0
    assert np.array_equal(log_s[0, 0], np.zeros(4))           # s = 1 where no ratio exists
    assert not np.isnan(log_s).any()


@pytest.mark.parametrize("f, analytic, match", [
    (lambda a: np.nan, np.array([1.0, 1.0]), "f returned a value that is not finite"),
    (lambda a: float(np.sum(a)), np.array([np.nan, 1.0]), "analytic gradient for input 0"),
    (lambda a: float(np.sum(a)), np.array([np.inf, 1.0]), "analytic gradient for input 0"),
    # finite at x = (1, 0.5), infinite once entry 0 moves above 1
    (lambda a: float(np.sum(np.where(a > 1.0, np.inf, a))), np.array([1.0, 1.0]),
     "entry 0 moved by"),
])
def test_gradcheck_refuses_non_finite_values_instead_of_reporting_zero(f, analytic, match):
    """max(1e-8, nan) is 1e-8 in Python: gradcheck used to report a perfect 0.0 here."""
    with pytest.raises(ValueError, match=match):
        gradcheck(f, np.array([1.0, 0.5]), analytic)


def test_more_arguments_that_are_now_checked():
    made = MADE(5, 3, hidden=8, depth=1, rng=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        made.log_likelihood(np.zeros((2, 3), dtype=int), batch_size=-1)
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, 2\)"):
        unique_rows(np.array([[2, 0], [0, 1]]), 2)       # used to merge the two rows
    with pytest.raises(ValueError, match="not a transition kernel"):
        Graph([[-1e200, 1e200], [1.0, -1.0]]).transition(1.0)
    with pytest.raises(ValueError, match="not a transition kernel"):
        Graph(np.array([[-1.0, 1, 0], [0, -1, 1], [1, 0, -1]])).transition(1e17)
    with pytest.raises(ValueError, match="sigma_max / sigma_min or the largest rate"):
        Geometric(1e-300, 1e300)
    with pytest.raises(ValueError, match="eps must be above about 5.6e-17"):
        LogLinear(1e-320)
    with pytest.raises(ValueError, match="dtype must be np.float64 or np.float32, got None"):
        ScoreMLP(U4, 3, dtype=None)
    with pytest.raises(TypeError, match="not the class LogLinear: call it"):
        sample(EXACT, LogLinear, 2)
    with pytest.raises(TypeError, match="path must be a file name"):
        MODEL.save(1)                                     # used to write to file descriptor 1
    with pytest.raises(TypeError, match="path must be a file name"):
        ScoreMLP.load(None)
    with pytest.raises(ValueError, match=r"words\[0\] holds the NUL character"):
        CharCorpus(["a\0b", "cd"])
    still = Graph(np.zeros((3, 3)))                       # a valid chain in which nothing moves
    with pytest.raises(ValueError, match="model.graph has no positive rate"):
        train(ScoreMLP(still, 2, hidden=4, rng=0), np.zeros((4, 2), dtype=int), GEO, 2, rng=0)


def test_adam_checks_a_learning_rate_changed_between_steps():
    params = {"w": np.ones(3)}
    opt = Adam(params, lr=0.1)
    opt.lr = float("nan")
    with pytest.raises(ValueError, match="lr must be"):
        opt.step({"w": np.ones(3)})
    assert np.array_equal(params["w"], np.ones(3)) and opt.k == 0


def test_one_sampler_step_and_the_distances_check_their_arguments():
    s = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, 4\)"):
        tweedie_probs(U4, s, X - 1, 0.1)                  # -1 used to be read as the last token
    with pytest.raises(ValueError, match=r"s must have shape \(2, 3, 4\)"):
        tweedie_probs(U4, np.ones((4, 4)), X, 0.1)        # used to broadcast
    with pytest.raises(ValueError, match="delta must be > 0"):
        tweedie_probs(U4, s, X, -1.0)
    with pytest.raises(ValueError, match="rate_dt must be >= 0"):
        euler_probs(U4, s, X, -1.0)
    with pytest.raises(TypeError, match="graph must be a minisedd Graph"):
        euler_probs("uniform", s, X, 0.1)
    with pytest.raises(ValueError, match="s must be >= 0"):
        euler_probs(U4, -s, X, 0.1)
    with pytest.raises(ValueError, match="p must not contain NaN"):
        tv_distance([0.5, np.nan], [0.5, 0.5])
    with pytest.raises(ValueError, match="p must be a distribution summing to 1"):
        tv_distance([5.0, 5.0], [0.5, 0.5])               # used to give a TV of 4.5
    with pytest.raises(ValueError, match=r"probs must have shape \(6,\)"):
        sample_tv(TOY_SENTENCES, TOY_SENTENCES, [1.0])
    with pytest.raises(ValueError, match="samples must hold at least one row"):
        empirical(TOY_SENTENCES[:0], TOY_SENTENCES)       # used to give NaN and a warning
    with pytest.raises(TypeError, match="samples must be an integer array"):
        empirical(TOY_SENTENCES * 1.0, TOY_SENTENCES)
    with pytest.raises(ValueError, match="x0 must hold at least one sequence"):
        nelbo(EXACT, GEO, np.zeros((0, 3), dtype=int))
    with pytest.raises(TypeError, match="rng"):
        nelbo(EXACT, GEO, SEQS, method="exact", rng="garbage")   # checked for every method
    assert tweedie_probs(U4, s, X, 0.1).sum(axis=-1) == pytest.approx(np.ones((2, 3)))
    assert tv_distance([0.5, 0.5], [1.0, 0.0]) == 0.5


def test_autoregressive_and_corpus_arguments_that_are_now_checked():
    made = MADE(5, 3, hidden=8, depth=1, rng=0)
    good = np.array([[1, 2, 0], [3, 0, 0]])                 # words, then the end marker 0
    with pytest.raises(ValueError, match="x must be words padded with the end marker"):
        made.loss(np.array([[0, 2, 0]]))                    # a letter after the end
    with pytest.raises(ValueError, match="x must hold at least one row"):
        made.loss(np.zeros((0, 3), dtype=int))
    with pytest.raises(ValueError, match="valid must be words padded with the end marker"):
        train_autoregressive(made, good, 2, valid=np.array([[0, 2, 0]]), log_every=0)
    with pytest.raises(ValueError, match="rounds to all 256 sentences"):
        agreement_corpus(0.999)
    gram = NGram(2, 5).fit(good)
    with pytest.raises(ValueError, match=r"context must hold token ids in \[0, 6\)"):
        gram.next_probs(np.array([[99]]))                   # used to be an unseen context
    with pytest.raises(ValueError, match=r"symbol must hold token ids in \[0, 5\)"):
        gram.cond_prob(np.array([[1]]), np.array([99]))     # used to get probability 0.035
    assert gram.next_probs(np.array([[5]])).sum() == pytest.approx(1.0)   # 5: the start


def test_network_helpers_check_their_arguments():
    with pytest.raises(ValueError, match="sb must be a 1-D float array"):
        sigma_features(0.5)                                 # used to be NumPy's AxisError
    with pytest.raises(ValueError, match="noise levels >= 0"):
        sigma_features(np.array([-2.0]))                    # used to return NaN
    with pytest.raises(TypeError, match="sizes must be a list of layer sizes"):
        MLP(5)
    with pytest.raises(ValueError, match="out_scale must"):
        MLP([2, 3], out_scale=float("nan"))
    with pytest.raises(ValueError, match="out_scale must be >= 0"):
        MLP([2, 3], out_scale=-1.0)


def test_small_helpers_check_their_arguments():
    with pytest.raises(ValueError, match=r"curve must hold \(entropy, nll\) pairs"):
        curve_at([(1.0, 2.0, 3.0)], 1.0)                    # was "too many values to unpack"
    with pytest.raises(TypeError, match="probs must be a real array"):
        argmax_ties_low(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="vocab must be a sequence of words"):
        decode([1], vocab=None)
    with pytest.raises(TypeError, match="words must be a sentence"):
        agreement_corpus().condition(3)
    with pytest.raises(ValueError, match="probs must have a finite sum"):
        sample_categorical(np.array([1e308, 1e308]), rng=0)   # used to draw from an inf sum


@pytest.mark.parametrize("bad, match", [
    (np.eye(4), r"transition must have shape \(2, 4, 4\)"),          # used to be an IndexError
    (np.full((2, 4, 4), np.nan), "transition must not contain NaN"),
    (np.ones((2, 4, 4)), "rows sum to 1"),
])
def test_a_network_checks_kernels_handed_to_its_forward(bad, match):
    with pytest.raises(ValueError, match=match):
        ABS_MODEL.forward(X, 0.5, transition=bad)
