"""minisedd: Score Entropy Discrete Diffusion, exact and from scratch in NumPy.

Lou, Meng, Ermon, "Discrete Diffusion Modeling by Estimating the Ratios of the Data
Distribution", ICML 2024. Conventions: ../shared/MATH.md (row-convention rate matrices).
"""
from .corpus import Corpus, agreement_corpus
from .data import (MASK_ID, TOY_SENTENCES, TOY_VOCAB, decode, encode, empirical, sample_tv,
                   toy_problem, tv_distance)
from .exact import ExactScore
from .gradcheck import gradcheck
from .graphs import Absorbing, Graph, Uniform, sample_categorical
from .likelihood import expected_dse, nelbo
from .losses import dse_loss, dse_targets, l2_loss, score_entropy
from .model import ScoreMLP
from .noise import Geometric, LogLinear
from .optim import Adam
from .sampling import denoise_probs, sample
from .train import train

__version__ = "0.1.0"

__all__ = [
    "Graph", "Uniform", "Absorbing", "sample_categorical", "Geometric", "LogLinear",
    "score_entropy", "l2_loss", "dse_loss", "dse_targets", "gradcheck", "Adam",
    "ScoreMLP", "ExactScore", "train", "nelbo", "expected_dse", "sample", "denoise_probs",
    "TOY_VOCAB", "TOY_SENTENCES", "MASK_ID", "encode", "decode", "empirical", "tv_distance",
    "sample_tv", "toy_problem", "Corpus", "agreement_corpus",
]
