"""The command line: train a score model on your own sentences, then sample from it.

    python -m minisedd train corpus.txt --graph absorbing --steps 3000 --out model.npz
    python -m minisedd sample model.npz --num 10
    python -m minisedd sample model.npz --num 10 --prompt "the _ sleeps ."

The corpus is a text file with one sentence a line; words are separated by whitespace
(write punctuation as its own word: "the cat sleeps ."). Blank lines are skipped.

- Vocabulary: "<pad>" (id 0), then the words in the order they first appear, then "[MASK]"
  for the absorbing graph. "<pad>", "[MASK]" and "_" are reserved and may not appear in the corpus.
- Length: L = the longest line; shorter lines are filled with <pad> at the end.
- Graph "uniform": Uniform(n) with Geometric(1e-4, 20); graph "absorbing": Absorbing(n + 1)
  with LogLinear(1e-3), where n counts <pad> and the words.
- The checkpoint is ScoreMLP.save; model.meta holds the vocabulary, the graph kind and the
  noise schedule's settings, so `sample` needs nothing but the file.

A prompt is a sentence in which "_" marks a free position; every other word is held at
every step of the reverse process (sample(..., condition=c), see sampling.py). A prompt is
read like a corpus line: if it has fewer than L words it is filled with <pad> at the end,
and those <pad> are held too, so "the _ sleeps ." asks for a sentence of exactly four
words. Write one "_" per free position to leave the end open ("the cat _ _ _ _ _").
Samples are printed one a line, with trailing <pad> removed.

Errors in the input (a missing or empty corpus, a bad prompt, a file that is not a
checkpoint of this command line, a number out of range) print one message on stderr and
exit with status 2. `main(argv)` returns the exit status, so tests can call it directly.
"""
import argparse
import os
import sys
import time

import numpy as np

from .data import MASK_WORD as MASK, PAD_WORD as PAD, decode, problem
from .model import ScoreMLP
from .noise import Geometric, LogLinear
from .sampling import METHODS, sample
from .train import train

PROG = "python -m minisedd"
FREE = "_"                         # a free position in a prompt
META_FORMAT = "minisedd-cli"      # tag in model.meta marking a checkpoint of this command line
META_VERSION = 1


class CLIError(Exception):
    """A problem with the user's input: printed as one line on stderr, exit status 2."""


# -- numbers on the command line ------------------------------------------------------
def int_at_least(low):
    """argparse type: an integer >= low."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    return parse


positive_int, nonneg_int = int_at_least(1), int_at_least(0)


def positive_float(text):
    """argparse type: a finite real number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


# -- corpus, vocabulary, graph ------------------------------------------------------------
def read_corpus(path):
    """The sentences of a text file: a list of word lists, one per non-blank line."""
    if not os.path.exists(path):
        raise CLIError(f"corpus file {path!r} does not exist")
    if not os.path.isfile(path):
        raise CLIError(f"corpus {path!r} is not a file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise CLIError(f"corpus file {path!r} is not UTF-8 text (one sentence a line)") from None
    except OSError as err:
        raise CLIError(f"cannot read corpus file {path!r}: {err.strerror}") from None
    sentences, reserved = [], []
    for number, line in enumerate(lines, start=1):
        words = line.split()
        if words:
            sentences.append(words)
            reserved += [(number, w) for w in words if w in (PAD, MASK, FREE)]
    if not sentences:
        raise CLIError(f"corpus file {path!r} is empty: it needs at least one line with words "
                       f"(one sentence a line, words separated by spaces)")
    if reserved:
        shown = ", ".join(f"line {k}: {w!r}" for k, w in reserved[:5])
        raise CLIError(f"corpus file {path!r} uses reserved words ({PAD!r}, {MASK!r} and {FREE!r} "
                       f"have a meaning of their own): {shown}")
    return sentences


def build_vocab(sentences, graph_kind):
    """["<pad>", the words in order of first appearance, ("[MASK]" for the absorbing graph)]."""
    vocab = [PAD]
    seen = {PAD}
    for words in sentences:
        for w in words:
            if w not in seen:
                seen.add(w)
                vocab.append(w)
    if graph_kind == "absorbing":
        vocab.append(MASK)
    return vocab


def encode_sentences(sentences, vocab, length):
    """Word lists -> int (M, L), each row filled with <pad> (id 0) after its last word."""
    index = {w: k for k, w in enumerate(vocab)}
    data = np.zeros((len(sentences), length), dtype=np.int64)     # (M, L), 0 = <pad>
    for row, words in enumerate(sentences):
        data[row, :len(words)] = [index[w] for w in words]
    return data


def make_problem(graph_kind, vocab):
    """The graph on the vocabulary's tokens and the settings of its noise schedule (kept in the
    checkpoint): minisedd.data.problem, with [MASK] the last word of an absorbing vocabulary."""
    graph, noise = problem(graph_kind, len(vocab) - (graph_kind == "absorbing"))
    if graph_kind == "uniform":
        return graph, {"kind": "geometric", "sigma_min": noise.sigma_min,
                       "sigma_max": noise.sigma_max}
    return graph, {"kind": "loglinear", "eps": noise.eps}


def noise_from_meta(settings):
    """Rebuild a noise schedule from its settings dict (a ValueError if they are not valid)."""
    kind = settings.get("kind") if isinstance(settings, dict) else None
    if kind == "geometric":
        return Geometric(settings["sigma_min"], settings["sigma_max"])
    if kind == "loglinear":
        return LogLinear(settings["eps"])
    raise ValueError(f"unknown noise schedule {settings!r}")


# -- checkpoints -------------------------------------------------------------------------
def load_checkpoint(path):
    """A ScoreMLP written by `train`, with its vocabulary and noise schedule, or a CLIError."""
    if not os.path.exists(path):
        raise CLIError(f"model file {path!r} does not exist (train one with "
                       f"'{PROG} train corpus.txt --out {path}')")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise CLIError(f"cannot read model file {path!r}: {err.strerror}") from None
    if head != b"PK\x03\x04":            # an .npz is a zip archive: it starts with these bytes
        raise CLIError(f"model file {path!r} is not a minisedd checkpoint (not an .npz archive)")
    try:
        model = ScoreMLP.load(path)
    except ValueError as err:
        raise CLIError(f"{err}") from None
    meta = model.meta
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise CLIError(f"model file {path!r} is a minisedd checkpoint but was not written by "
                       f"'{PROG} train': it has no vocabulary or noise schedule in its meta")
    try:
        vocab, kind = meta["vocab"], meta["graph"]
        if meta.get("version") != META_VERSION:
            raise ValueError(f"command-line meta version {meta.get('version')!r}, "
                             f"expected {META_VERSION}")
        if not (isinstance(vocab, list) and all(isinstance(w, str) for w in vocab)
                and len(set(vocab)) == len(vocab)):
            raise ValueError("the vocabulary is not a list of distinct words")
        if kind != model.graph.kind or len(vocab) != model.graph.n:
            raise ValueError(f"the meta describes a {kind} graph on {len(vocab)} tokens but the "
                             f"model has {model.graph!r}")
        if vocab[0] != PAD or (kind == "absorbing" and vocab[-1] != MASK):
            raise ValueError("the vocabulary does not start with <pad> (and end with [MASK])")
        noise = noise_from_meta(meta["noise"])
    except (KeyError, TypeError, ValueError) as err:
        raise CLIError(f"model file {path!r} has damaged command-line meta: {err}") from None
    return model, vocab, noise


# -- prompts and output ------------------------------------------------------------------------
def parse_prompt(prompt, vocab, length):
    """A prompt ("the _ sleeps .") -> condition, int (L,): token ids, -1 at free positions.

    Words after the prompt's last one are held at <pad>, as in the training data.
    """
    words = prompt.split()
    if not words:
        raise CLIError("the prompt is empty: give words to hold and '_' for free positions, "
                       "e.g. --prompt \"the _ sleeps .\"")
    if len(words) > length:
        raise CLIError(f"the prompt has {len(words)} words but this model's sentences have at most "
                       f"{length} (the longest line of its corpus)")
    index = {w: k for k, w in enumerate(vocab) if w != MASK}      # only clean tokens may be held
    unknown = [w for w in dict.fromkeys(words) if w != FREE and w not in index]
    if unknown:
        raise CLIError(f"the prompt has words that are not in the model's vocabulary: "
                       f"{', '.join(repr(w) for w in unknown)}")
    condition = np.zeros(length, dtype=np.int64)        # (L,), 0 = <pad> after the prompt
    condition[:len(words)] = [-1 if w == FREE else index[w] for w in words]
    return condition


# -- the two commands ------------------------------------------------------------------------
def cmd_train(args, out):
    """Read the corpus, train a ScoreMLP on it, save it with its meta; print progress to out."""
    sentences = read_corpus(args.corpus)
    vocab = build_vocab(sentences, args.graph)
    length = max(len(words) for words in sentences)                  # L
    data = encode_sentences(sentences, vocab, length)                # (M, L)
    graph, noise_settings = make_problem(args.graph, vocab)
    noise = noise_from_meta(noise_settings)
    path = args.out if args.out.endswith(".npz") else args.out + ".npz"   # always an .npz file
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {path!r}: folder {folder!r} does not exist")

    model = ScoreMLP(graph, length, hidden=args.hidden, depth=args.depth, seed=args.seed)
    model.meta = {"format": META_FORMAT, "version": META_VERSION, "vocab": vocab,
                  "graph": args.graph, "noise": noise_settings,
                  "corpus": os.path.basename(args.corpus), "steps": args.steps}
    _, counts = np.unique(data, axis=0, return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log(p)).sum())                # of the corpus, nats per sentence
    words = len(vocab) - 1 - (args.graph == "absorbing")
    print(f"corpus {args.corpus}: {len(sentences)} sentences, {words} words, length L = {length}",
          file=out)
    print(f"graph {args.graph} on n = {graph.n} tokens, noise {noise!r}; "
          f"{model!r}", file=out)
    print(f"training {args.steps} steps, batch {args.batch_size}, lr {args.lr:g}, "
          f"seed {args.seed}; loss in nats per sentence", file=out)

    def printer(line):
        print(line, file=out, flush=True)
    start = time.perf_counter()
    try:
        history = train(model, data, noise, args.steps, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed, printer=printer)
    except FloatingPointError as err:
        raise CLIError(f"{err}; try a smaller --lr") from None
    seconds = time.perf_counter() - start
    try:
        model.save(path)
    except OSError as err:
        raise CLIError(f"cannot write {path!r}: {err.strerror}") from None

    tail = history[-max(1, len(history) // 10):]
    print(f"done in {seconds:.1f} s", file=out)
    print(f"  vocabulary   {len(vocab)} tokens ({words} words + {PAD}"
          f"{' + ' + MASK if args.graph == 'absorbing' else ''})", file=out)
    print(f"  length L     {length}", file=out)
    print(f"  parameters   {model.num_params()}", file=out)
    print(f"  final loss   {history[-1]:.4f} nats (mean of the last {len(tail)} steps: "
          f"{tail.mean():.4f})", file=out)
    print(f"  data entropy {entropy:.4f} nats per sentence (a model that reproduces the corpus "
          f"exactly has a loss near this)", file=out)
    print(f"  saved to     {path}", file=out)
    print(f"sample with: {PROG} sample {path} --num 10", file=out)
    return 0


def cmd_sample(args, out):
    """Load a checkpoint, draw args.num sentences (held words from --prompt), print them."""
    model, vocab, noise = load_checkpoint(args.model)
    condition = None if args.prompt is None else parse_prompt(args.prompt, vocab, model.length)
    rng = np.random.default_rng(args.seed)
    x = sample(model, noise, args.num, steps=args.steps, method=args.method, rng=rng,
               condition=condition)                                  # (N, L)
    for row in x:
        print(decode(row, vocab, strip_pad=True), file=out)
    return 0


# -- argument parsing --------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="minisedd: train a score entropy discrete diffusion model on your own "
                    "sentences (one a line) and sample from it.",
        epilog=f"examples:\n  {PROG} train examples/corpus.txt --graph absorbing --out model.npz\n"
               f"  {PROG} sample model.npz --num 10\n"
               f"  {PROG} sample model.npz --num 10 --prompt \"the _ sleeps .\"\n"
               f"run '{PROG} train --help' or '{PROG} sample --help' for the options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)

    tr = commands.add_parser(
        "train", help="train a model on a text file, one sentence a line",
        description="Train a ScoreMLP on a text file (one sentence a line, words separated by "
                    "whitespace) and save it with its vocabulary. Vocabulary: <pad>, the words in "
                    "order of first appearance, [MASK] (absorbing graph). Sentences are filled "
                    "with <pad> up to the longest line.")
    tr.add_argument("corpus", help="text file, one sentence a line (blank lines are skipped)")
    tr.add_argument("--graph", choices=("absorbing", "uniform"), default="absorbing",
                    help="forward process: 'absorbing' (words turn into [MASK], LogLinear(1e-3) "
                         "noise) or 'uniform' (words turn into any word, Geometric(1e-4, 20) "
                         "noise); default: absorbing")
    tr.add_argument("--steps", type=positive_int, default=3000,
                    help="Adam steps (default: 3000)")
    tr.add_argument("--hidden", type=positive_int, default=128,
                    help="width of the MLP's hidden layers (default: 128)")
    tr.add_argument("--depth", type=positive_int, default=2,
                    help="number of hidden layers (default: 2)")
    tr.add_argument("--batch-size", type=positive_int, default=128,
                    help="sentences per step (default: 128, half of train()'s default: as good "
                         "on a 50-line corpus, and training stays under ~20 s)")
    tr.add_argument("--lr", type=positive_float, default=3e-3,
                    help="peak learning rate, cosine decay to lr/10 (default: 0.003)")
    tr.add_argument("--seed", type=nonneg_int, default=0,
                    help="seeds the initialization, the batches and the noise (default: 0)")
    tr.add_argument("--out", default="model.npz",
                    help="where to save the checkpoint, a .npz file (default: model.npz)")
    tr.set_defaults(run=cmd_train)

    sa = commands.add_parser(
        "sample", help="draw sentences from a trained model",
        description="Draw sentences from a model saved by 'train', one a line, trailing <pad> "
                    "removed.")
    sa.add_argument("model", help="checkpoint written by 'train' (.npz)")
    sa.add_argument("--num", type=positive_int, default=10,
                    help="number of sentences to draw (default: 10)")
    sa.add_argument("--prompt", default=None,
                    help="a sentence with '_' at free positions, e.g. \"the _ sleeps .\"; the "
                         "other words are held. A prompt shorter than the model's length L is "
                         "filled with <pad> at the end (held too), like the training lines; "
                         "longer is an error")
    sa.add_argument("--steps", type=positive_int, default=64,
                    help="reverse-process steps (default: 64)")
    sa.add_argument("--method", choices=METHODS, default="tweedie",
                    help="reverse step: 'tweedie' (tau-leaping with the Tweedie denoiser) or "
                         "'euler' (default: tweedie)")
    sa.add_argument("--seed", type=nonneg_int, default=0,
                    help="seeds the sampler (default: 0)")
    sa.set_defaults(run=cmd_sample)
    return parser


def main(argv=None, out=None):
    """Run the command line on argv (default sys.argv[1:]); returns the exit status.

    0: success; 2: bad input (argparse's message, or one of ours, on stderr);
    `--help` prints and returns 0. out: where results go (default sys.stdout).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:           # argparse exits on --help and on bad arguments
        return stop.code if isinstance(stop.code, int) else 2
    out = sys.stdout if out is None else out
    try:
        return args.run(args, out)
    except CLIError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:              # output piped into e.g. `head`, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so the exit does not fail flushing stdout again
        return 1
