"""minisedd: Score Entropy Discrete Diffusion, exact and from scratch in NumPy.

Lou, Meng, Ermon, "Discrete Diffusion Modeling by Estimating the Ratios of the Data
Distribution", ICML 2024. Rate matrices follow the row convention: Q[x, y] is the rate of
jumping from token x to token y (lesson 01).
"""
from .autoregressive import MADE, train_autoregressive
from .corpus import Corpus, agreement_corpus
from .data import (MASK_ID, TOY_N_CLEAN, TOY_SENTENCES, TOY_VOCAB, decode, encode, empirical,
                   problem, sample_tv, tv_distance)
from .exact import ExactScore, unique_rows
from .gradcheck import gradcheck
from .graphs import Absorbing, Graph, Uniform, sample_categorical
from .likelihood import expected_dse, nelbo, order_bound
from .losses import dse_loss, dse_targets, l2_loss, score_entropy
from .model import ScoreMLP, sigma_features
from .ngram import NGram
from .nn import MLP
from .noise import Geometric, LogLinear
from .optim import Adam
from .sampling import (argmax_ties_low, denoise_probs, euler_probs, sample,
                       sample_in_random_order, tweedie_probs)
from .surnames import CharCorpus, surnames
from .threads import blas_threads
from .train import train
from .transformer import CausalTransformer, ScoreTransformer
from .variety import EqualVariety, curve_at, equal_variety

__version__ = "0.1.0"

__all__ = [
    "Graph", "Uniform", "Absorbing", "sample_categorical", "Geometric", "LogLinear",
    "score_entropy", "l2_loss", "dse_loss", "dse_targets", "gradcheck", "Adam",
    "ScoreMLP", "sigma_features", "MLP", "ExactScore", "unique_rows", "train", "nelbo",
    "order_bound",
    "expected_dse", "sample", "sample_in_random_order", "denoise_probs", "euler_probs",
    "tweedie_probs",
    "TOY_VOCAB", "TOY_SENTENCES", "MASK_ID", "TOY_N_CLEAN", "encode", "decode", "empirical",
    "tv_distance", "sample_tv", "problem", "Corpus", "agreement_corpus", "argmax_ties_low",
    "blas_threads", "CharCorpus", "surnames", "NGram", "MADE", "train_autoregressive",
    "ScoreTransformer", "CausalTransformer", "curve_at", "equal_variety", "EqualVariety",
]
