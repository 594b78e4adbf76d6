"""The command line: train a score model on your own sentences or words, sample from it, and
score text with it.

    python -m minisedd train corpus.txt --graph absorbing --steps 3000 --out model.npz
    python -m minisedd sample model.npz --num 10
    python -m minisedd sample model.npz --num 10 --prompt "the _ sleeps ."
    python -m minisedd train names.txt --chars --out names.npz      # character level
    python -m minisedd sample names.npz --num 10 --prompt "mc_____"
    python -m minisedd score names.npz held_out.txt                  # bound on -log p, a line

The corpus is a text file with one sentence a line; words are separated by whitespace
(write punctuation as its own word: "the cat sleeps ."). Blank lines are skipped.

With --chars each line is a sequence of characters instead (a name, a word; spaces at its
ends are dropped): the vocabulary is "<end>" (id 0) and the characters of the file, sorted
(then "[MASK]" for the absorbing graph); L = the longest line + 1, and each row is the line's
characters then <end> to the end of the row -- the encoding of minisedd.surnames.CharCorpus.

- Vocabulary: "<pad>" (id 0), then the words in the order they first appear, then "[MASK]"
  for the absorbing graph. "<pad>", "[MASK]" and "_" are reserved and may not appear in the corpus.
- Length: L = the longest line; shorter lines are filled with <pad> at the end.
- Graph "uniform": Uniform(n) with Geometric(1e-4, 20); graph "absorbing": Absorbing(n + 1)
  with LogLinear(1e-3), where n counts <pad> and the words.
- The network: --model mlp (ScoreMLP, the default) or --model transformer (ScoreTransformer).
  The checkpoint is the model's own .save; model.meta holds the vocabulary, the unit (words or
  characters), the graph kind and the noise schedule's settings, so `sample` needs nothing but
  the file, and reads either network (it looks at the file's format tag).

A prompt is a sentence in which "_" marks a free position; every other word is held at
every step of the reverse process (sample(..., condition=c), see sampling.py). A prompt is
read like a corpus line: if it has fewer than L words it is filled with <pad> at the end,
and those <pad> are held too, so "the _ sleeps ." asks for a sentence of four words (a note on
stderr says so). Write one "_" per free position to leave the end open ("the cat _ _ _ _ _").
With --chars a prompt is a string of characters, "_" a free character: "mc_____" holds "m",
"c" and <end> after the seventh character, so the samples have at most 7 characters (a free
position may take <end>).

A sample ends at its first <pad> (<end> with --chars): a sentence is its words up to the
first <pad>, as in the training rows, where <pad> only ever follows the last word. Anything a
model puts after that <pad> is not part of the sentence and is not printed.

`score` reads a file as `train` read the corpus and prints, for each line, the model's bound
on -log p(line) in nats (the negative ELBO of lesson 04: a Monte Carlo estimate with its
standard error, or with --method exact the bound itself, slow but for short rows), then the
means per line and per token, counting the end marker that closes a line as a token, as
lesson 10 does. A line with a word the model never saw ('_', '<pad>' and '[MASK]' included),
or too long for its rows, has probability 0: it is printed as inf, named on stderr with its
line number, and left out of the means.

Errors in the input (a missing or empty corpus, a bad prompt, a file that is not a
checkpoint of this command line, a number out of range) print one message on stderr and
exit with status 2. `main(argv)` returns the exit status, so tests can call it directly.
"""
import argparse
import os
import sys
import time

import numpy as np

from .data import MASK_WORD, PAD_WORD, problem
from .likelihood import nelbo, noisy_row_counts
from .model import FORMAT as MLP_FORMAT, ScoreMLP
from .noise import Geometric, LogLinear
from .sampling import METHODS, sample
from .surnames import END, CharCorpus
from .train import train
from .transformer import ScoreTransformer

PROG = "python -m minisedd"
FREE = "_"                         # a free position in a prompt
META_FORMAT = "minisedd-cli"      # tag in model.meta marking a checkpoint of this command line
META_VERSION = 1
MAX_EXACT_STATES = 300_000   # score --method exact: at most this many noisy rows
DEFAULT_SAMPLES, MAX_SAMPLES = 256, 100_000   # score: Monte Carlo draws a line
NETWORKS = {MLP_FORMAT: ScoreMLP, ScoreTransformer.FORMAT: ScoreTransformer}   # by format tag


def plural(count, noun):
    """'1 sentence', '2 sentences'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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


def int_in(low, high):
    """argparse type: an integer in [low, high]."""
    at_least = int_at_least(low)

    def parse(text):
        value = at_least(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high:,}, got "
                                             f"{value:,}")
        return value
    return parse


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
def read_corpus(path, chars=False, what="corpus", numbered=False):
    """The sentences of a text file: a list of word lists, one per non-blank line.

    chars: each line is a sequence of characters instead: a list of strings (the lines with
    the spaces at their ends dropped), one per non-blank line. what: the file's name in
    messages: "corpus" (the reserved words and '_' are refused, as train needs), or "text"
    (the file that score reads: a reserved word is only a word the model never saw).
    numbered: also return the file's line number of each sentence (blank lines are skipped).
    """
    if not os.path.exists(path):
        raise CLIError(f"{what} file {path!r} does not exist")
    if not os.path.isfile(path):
        raise CLIError(f"{what} file {path!r} is a folder, not a file" if os.path.isdir(path)
                       else f"{what} file {path!r} is not a regular file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise CLIError(f"{what} file {path!r} is not UTF-8 text (one sentence a line)") from None
    except OSError as err:
        raise CLIError(f"cannot read {what} file {path!r}: {err.strerror}") from None
    nul = [k for k, line in enumerate(lines, start=1) if "\0" in line]
    if nul:
        raise CLIError(f"{what} file {path!r} holds the NUL character on "
                       f"{', '.join(f'line {k}' for k in nul[:5])}: it is not text")
    check_reserved = what == "corpus"
    sentences, numbers, reserved = [], [], []
    for number, line in enumerate(lines, start=1):
        items = line.strip() if chars else line.split()
        if not items:
            continue
        sentences.append(items)
        numbers.append(number)
        if chars:
            reserved += [(number, FREE)] if FREE in items else []
        else:
            reserved += [(number, w) for w in items if w in (PAD_WORD, MASK_WORD, FREE)]
    unit = ("characters (one word a line)" if chars
            else "words (one sentence a line, words separated by spaces)")
    if not sentences:
        state = "has only blank lines" if lines else "is empty"
        raise CLIError(f"{what} file {path!r} {state}: it needs at least one line with {unit}")
    if reserved and check_reserved:
        if chars:
            shown = ", ".join(f"line {k}" for k, _ in reserved[:5])
            raise CLIError(f"{what} file {path!r} uses the reserved character {FREE!r} (it marks "
                           f"a free position in prompts): {shown}")
        shown = ", ".join(f"line {k}: {w!r}" for k, w in reserved[:5])
        raise CLIError(f"{what} file {path!r} uses reserved words ({PAD_WORD!r}, {MASK_WORD!r} "
                       f"and {FREE!r} have a meaning of their own): {shown}")
    return (sentences, numbers) if numbered else sentences


def build_vocab(sentences, graph_kind):
    """["<pad>", the words in order of first appearance, ("[MASK]" for the absorbing graph)]."""
    vocab = [PAD_WORD]
    seen = {PAD_WORD}
    for words in sentences:
        for w in words:
            if w not in seen:
                seen.add(w)
                vocab.append(w)
    if graph_kind == "absorbing":
        vocab.append(MASK_WORD)
    return vocab


def encode_sentences(sentences, vocab, length):
    """Word lists -> int (M, L), each row filled with <pad> (id 0) after its last word."""
    index = {w: k for k, w in enumerate(vocab)}
    data = np.zeros((len(sentences), length), dtype=np.int64)     # (M, L), 0 = <pad>
    for row, words in enumerate(sentences):
        data[row, :len(words)] = [index[w] for w in words]
    return data


def noise_to_meta(noise):
    """The settings of a noise schedule as a JSON dict, kept in the checkpoint."""
    if isinstance(noise, Geometric):
        return {"kind": "geometric", "sigma_min": noise.sigma_min, "sigma_max": noise.sigma_max}
    return {"kind": "loglinear", "eps": noise.eps}


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
    """A score model written by `train`, with its vocabulary, noise schedule and unit, or a
    CLIError. A path without .npz that does not exist reads path.npz, the file that
    `train --out path` writes."""
    if not os.path.exists(path) and not path.endswith(".npz") and os.path.exists(path + ".npz"):
        path += ".npz"
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
    try:     # the format tag says which network wrote the file
        with np.load(path, allow_pickle=False) as f:
            tag = str(f["format"]) if "format" in f.files else None
    except Exception as err:
        raise CLIError(f"model file {path!r} is not a readable minisedd checkpoint (.npz): "
                       f"{type(err).__name__}: {err}") from None
    if tag not in NETWORKS:
        found = "no format tag" if tag is None else f"format tag {tag!r}"
        raise CLIError(f"model file {path!r} is not a minisedd checkpoint of a score model "
                       f"(ScoreMLP or ScoreTransformer): {found}")
    try:
        model = NETWORKS[tag].load(path)
    except ValueError as err:
        raise CLIError(f"{err}") from None
    meta = model.meta
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise CLIError(f"model file {path!r} is a minisedd checkpoint but was not written by "
                       f"'{PROG} train': it has no vocabulary or noise schedule in its meta")
    try:
        vocab, kind, unit = meta["vocab"], meta["graph"], meta.get("unit", "words")
        if unit not in ("words", "chars"):
            raise ValueError(f"unknown unit {unit!r}")
        if meta.get("version") != META_VERSION:
            raise ValueError(f"command-line meta version {meta.get('version')!r}, "
                             f"expected {META_VERSION}")
        if not (isinstance(vocab, list) and all(isinstance(w, str) for w in vocab)
                and len(set(vocab)) == len(vocab)):
            raise ValueError("the vocabulary is not a list of distinct words")
        if kind != model.graph.kind or len(vocab) != model.graph.n:
            raise ValueError(f"the meta describes a {kind} graph on {len(vocab)} tokens but the "
                             f"model has {model.graph!r}")
        first = END if unit == "chars" else PAD_WORD
        if vocab[0] != first or (kind == "absorbing" and vocab[-1] != MASK_WORD):
            raise ValueError(f"the vocabulary does not start with {first} (and end with [MASK])")
        characters = vocab[1:len(vocab) - (kind == "absorbing")]
        if unit == "chars" and not all(len(c) == 1 for c in characters):
            raise ValueError("a character vocabulary must hold single characters")
        noise = noise_from_meta(meta["noise"])
    except (KeyError, TypeError, ValueError) as err:
        raise CLIError(f"model file {path!r} has damaged command-line meta: {err}") from None
    return model, vocab, noise, unit


# -- prompts and output ------------------------------------------------------------------------
def parse_prompt(prompt, vocab, length, unit="words", note=None):
    """A prompt ("the _ sleeps .", or "mc_____" for characters) -> condition, int (L,): token
    ids, -1 at free positions.

    Positions after the prompt's last one are held at <pad> (<end>), as in the training data;
    `note` (a callable taking a line) is told so when there are any.
    """
    chars = unit == "chars"
    words = list(prompt) if chars else prompt.split()
    what, end = ("characters", END) if chars else ("words", PAD_WORD)
    if not words:
        example = "mc_____" if chars else "the _ sleeps ."
        raise CLIError(f"the prompt is empty: give {what} to hold and '_' for free positions, "
                       f"e.g. --prompt \"{example}\"")
    if len(words) > length:
        longest = "the longest line of its corpus plus the end marker" if chars else \
            "the longest line of its corpus"
        raise CLIError(f"the prompt has {len(words)} {what} but this model's rows hold at "
                       f"most {length} ({longest})")
    reserved = [w for w in dict.fromkeys(words) if w in (end, MASK_WORD)]
    if reserved:
        raise CLIError(f"the prompt holds {', '.join(repr(w) for w in reserved)}, reserved for "
                       f"the model's own use, not {what} a prompt can hold: write '_' for a "
                       f"free position; a prompt shorter than the row is filled with {end} by "
                       f"itself")
    index = {w: k for k, w in enumerate(vocab) if w != MASK_WORD}   # only clean tokens may be held
    unknown = [w for w in dict.fromkeys(words) if w != FREE and w not in index]
    if unknown:
        raise CLIError(f"the prompt has {what} that are not in the model's vocabulary: "
                       f"{', '.join(repr(w) for w in unknown)}")
    condition = np.zeros(length, dtype=np.int64)        # (L,), 0 = <pad> after the prompt
    condition[:len(words)] = [-1 if w == FREE else index[w] for w in words]
    if len(words) < length and note is not None:
        rest = length - len(words)
        note(f"note: the prompt has {plural(len(words), what[:-1])} and this model's rows have "
             f"{length} positions: the other {rest} {'is' if rest == 1 else 'are'} held at "
             f"{end}, so every sample has at most {plural(len(words), what[:-1])}; add '_' to "
             f"leave more open")
    return condition


def sample_text(row, vocab, unit="words"):
    """A sampled row (L,) -> its text: the tokens up to the first <pad> (<end>), which ends it."""
    stop = np.flatnonzero(row == 0)
    tokens = [vocab[t] for t in (row[:stop[0]] if stop.size else row)]
    return "".join(tokens) if unit == "chars" else " ".join(tokens)


# -- the two commands ------------------------------------------------------------------------
# the options of each network, with their defaults (the parser's default is None, so that an
# option given for the other network is an error, not silently ignored)
NETWORK_OPTIONS = {"mlp": {"hidden": 128, "depth": 2},
                   "transformer": {"d_model": 64, "n_layers": 2, "n_heads": 4}}


class Output:
    """Prints lines to `out` until a reader that stopped reading (`... | head`) breaks the
    pipe; after that, nothing, and the command goes on (train still saves its model)."""

    def __init__(self, out):
        self.out = out

    def __call__(self, line):
        if self.out is None:
            return
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            if self.out is sys.stdout:
                silence_stdout()
            self.out = None


def silence_stdout():
    """Point stdout at the null device, so that exiting does not fail flushing it again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def network_options(args):
    """Fill in the chosen network's options; an option of the other network is an error."""
    for model, options in NETWORK_OPTIONS.items():
        for name, default in options.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
            elif model != args.model:
                raise CLIError(f"--{name.replace('_', '-')} is an option of --model {model}, "
                               f"and this run trains --model {args.model}")


def cmd_train(args, out):
    """Read the corpus, train a score network on it, save it with its meta; print progress to
    out."""
    say = Output(out)
    network_options(args)
    unit = "chars" if args.chars else "words"
    sentences = read_corpus(args.corpus, chars=args.chars)
    if args.chars:   # <end>, the characters sorted, (+ [MASK]); rows padded with <end>
        chars = CharCorpus(sentences, split=(1.0, 0.0, 0.0))
        vocab = list(chars.vocab) + ([MASK_WORD] if args.graph == "absorbing" else [])
        length = chars.length                                        # L = longest + 1
        data = chars.encode(sentences)                               # (M, L), repeats kept
    else:
        vocab = build_vocab(sentences, args.graph)
        length = max(len(words) for words in sentences)              # L
        data = encode_sentences(sentences, vocab, length)            # (M, L)
    # the clean tokens: the whole vocabulary, except [MASK] at the end of an absorbing one
    graph, noise = problem(args.graph, len(vocab) - (args.graph == "absorbing"))
    noise_settings = noise_to_meta(noise)
    if not os.path.basename(args.out) or os.path.isdir(args.out):
        raise CLIError(f"--out must name a file, e.g. --out model.npz, got {args.out!r}"
                       + (" (a folder)" if os.path.isdir(args.out) else ""))
    path = args.out if args.out.endswith(".npz") else args.out + ".npz"   # always an .npz file
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path!r}: it is a folder")

    if args.model == "transformer":
        if args.d_model % args.n_heads:
            raise CLIError(f"--d-model ({args.d_model}) must be a multiple of --n-heads "
                           f"({args.n_heads})")
        model = ScoreTransformer(graph, length, d_model=args.d_model, n_heads=args.n_heads,
                                 n_layers=args.n_layers, rng=args.seed)
    else:
        model = ScoreMLP(graph, length, hidden=args.hidden, depth=args.depth, rng=args.seed)
    model.meta = {"format": META_FORMAT, "version": META_VERSION, "vocab": vocab,
                  "unit": unit, "graph": args.graph, "noise": noise_settings,
                  "corpus": os.path.basename(args.corpus), "steps": args.steps}
    _, counts = np.unique(data, axis=0, return_counts=True)
    p = counts / counts.sum()
    entropy = max(0.0, float(-(p * np.log(p)).sum()))     # of the corpus, nats per line (no -0)
    words = len(vocab) - 1 - (args.graph == "absorbing")
    line, token, end = (("word", "character", END) if args.chars
                        else ("sentence", "word", PAD_WORD))
    say(f"corpus {args.corpus}: {plural(len(sentences), line)}, "
        f"{plural(words, 'distinct ' + token)}, length L = {length}")
    say(f"graph {args.graph} on n = {graph.n} tokens, noise {noise!r}; {model!r}")
    say(f"training {plural(args.steps, 'step')}, batch {args.batch_size}, lr {args.lr:g}, "
        f"seed {args.seed}; loss in nats per {line}")
    start = time.perf_counter()
    try:
        history = train(model, data, noise, args.steps, batch_size=args.batch_size, lr=args.lr,
                        rng=args.seed, printer=say, log_every=max(1, args.steps // 10))
    except FloatingPointError as err:
        raise CLIError(f"{err}; try a smaller --lr") from None
    seconds = time.perf_counter() - start
    try:
        model.save(path)
    except OSError as err:
        raise CLIError(f"cannot write {path!r}: {err.strerror}") from None

    tail = history[-max(1, len(history) // 10):]
    say(f"done in {seconds:.1f} s")
    say(f"  vocabulary   {len(vocab)} tokens ({plural(words, token)} + {end}"
        f"{' + ' + MASK_WORD if args.graph == 'absorbing' else ''})")
    say(f"  length L     {length}")
    say(f"  parameters   {model.num_params()}")
    last = "the last step" if len(tail) == 1 else f"the last {len(tail)} steps"
    say(f"  final loss   {history[-1]:.4f} nats (mean of {last}: {tail.mean():.4f})")
    say(f"  data entropy {entropy:.4f} nats per {line} (a model that reproduces the corpus "
        f"exactly has a loss near this)")
    say(f"  saved to     {path}")
    say(f"sample with: {PROG} sample {path} --num 10")
    return 0


def cmd_sample(args, out):
    """Load a checkpoint, draw args.num sentences (held words from --prompt), print them."""
    model, vocab, noise, unit = load_checkpoint(args.model)
    condition = None
    if args.prompt is not None:
        condition = parse_prompt(args.prompt, vocab, model.length, unit,
                                 note=lambda text: print(text, file=sys.stderr))
    x = sample(model, noise, args.num, steps=args.steps, method=args.method, rng=args.seed,
               condition=condition)                                  # (N, L)
    for row in x:
        print(sample_text(row, vocab, unit), file=out)
    return 0


def encode_line(line, index, length, unit="words"):
    """One line of a file to score -> (row int (L,), tokens it counts) or (None, why it has
    probability 0 under the model): an unknown word or character, or too long for the rows.

    index: the id of each word (character) a line may hold: the clean tokens without the end
    marker. tokens: the words (characters) and the end marker that follows them when the row
    has room for it, the tokens the per-token bound is counted over (a training row of L words
    has no <pad>; a character row always ends with <end>, as L = the longest line + 1).
    """
    chars = unit == "chars"
    items = list(line) if chars else line
    what = "character" if chars else "word"
    unknown = [w for w in dict.fromkeys(items) if w not in index]
    if unknown:
        more = ", ..." if len(unknown) > 5 else ""
        return None, (f"{plural(len(unknown), what)} not in the model's vocabulary: "
                      f"{', '.join(repr(w) for w in unknown[:5])}{more}")
    room = length - 1 if chars else length        # a character row keeps a place for <end>
    if len(items) > room:
        return None, (f"{plural(len(items), what)}, and this model's rows hold at most {room}"
                      + (" (and the end marker)" if chars else ""))
    row = np.zeros(length, dtype=np.int64)        # <pad> (<end>), id 0, after the last item
    row[:len(items)] = [index[w] for w in items]
    return row, len(items) + (len(items) < length)


def shorten(text, width=60):
    """text, cut to `width` characters with '...' when longer (a line echoed in a message)."""
    return text if len(text) <= width else text[:width - 3] + "..."


def cmd_score(args, out):
    """Load a checkpoint and print, for each line of a file, the bound on its negative
    log-probability under the model (the NELBO of lesson 04), then the means per line and per
    token, on lines that start with '#'."""
    say = Output(out)
    model, vocab, noise, unit = load_checkpoint(args.model)
    exact = args.method == "exact"
    if exact and (args.samples is not None or args.seed is not None):
        raise CLIError("--samples and --seed set the Monte Carlo draws, and --method exact "
                       "draws nothing")
    samples = DEFAULT_SAMPLES if args.samples is None else args.samples
    seed = 0 if args.seed is None else args.seed
    lines, numbers = read_corpus(args.file, chars=unit == "chars", what="text", numbered=True)
    index = {w: k for k, w in enumerate(vocab) if w not in (MASK_WORD, vocab[0])}
    encoded = [encode_line(line, index, model.length, unit) for line in lines]
    texts = [line if unit == "chars" else " ".join(line) for line in lines]
    keep = [k for k, (row, _) in enumerate(encoded) if row is not None]
    for k, (row, why) in enumerate(encoded):
        if row is None:
            print(f"note: line {numbers[k]} ({shorten(texts[k])!r}) has probability 0 under this "
                  f"model: {why}", file=sys.stderr)
    # the exact bound sums over every noisy row each line can become (2^L on the absorbing
    # graph: each position masked or not)
    counts = noisy_row_counts(model.graph, [encoded[k][0] for k in keep])
    if exact and sum(counts) > MAX_EXACT_STATES:
        hint = ("score fewer lines at once, or use --method mc"
                if max(counts) <= MAX_EXACT_STATES
                else "use --method mc (one line alone has too many)")
        raise CLIError(f"--method exact would sum over {sum(counts):,} noisy rows "
                       f"(at most {MAX_EXACT_STATES:,}): {hint}")
    method = "exact" if exact else "mc_masks" if model.graph.kind == "absorbing" else "mc"
    # each line draws from its own stream, seeded by --seed and the line's tokens: a line gets
    # the same estimate whatever else the file holds
    try:
        results = [nelbo(model, noise, encoded[k][0][None], method=method, num_samples=samples,
                         rng=np.random.default_rng([seed, *encoded[k][0].tolist()]),
                         max_states=MAX_EXACT_STATES) for k in keep]
    except ValueError as error:
        raise CLIError(f"{error}") from None
    result_of = dict(zip(keep, results))
    for k, text in enumerate(texts):
        if k not in result_of:
            say(f"{'inf':>9}{'':11}  {shorten(text)}")
            continue
        (b,), (e,) = result_of[k]
        say(f"{b:9.3f}" + (f"{'':11}" if exact else f" +- {e:7.3f}") + f"  {text}")
    if not keep:
        raise CLIError(f"no line of {args.file!r} can be scored: each has a word or character "
                       f"outside the model's vocabulary or is too long for its rows")
    bound = np.array([b[0] for b, _ in results])                      # (N,)
    tokens = np.array([encoded[k][1] for k in keep])                  # (N,)
    line_name, token = ("word", "character") if unit == "chars" else ("sentence", "word")
    end = END if unit == "chars" else PAD_WORD
    per_token = bound.sum() / tokens.sum()
    spread = (f", +- {bound.std(ddof=1) / np.sqrt(len(bound)):.3f} (the standard error of a mean "
              f"over lines like these)" if len(bound) > 1 else "")
    sign = "<=" if exact else "~="               # an estimate of a bound is not itself a bound
    if exact:
        say(f"# {plural(len(bound), line_name)} scored exactly: each number is the bound on "
            f"-log p(line), in nats (the negative ELBO, an upper bound)")
    else:
        say(f"# {plural(len(bound), line_name)} scored by Monte Carlo "
            f"({plural(samples, 'draw')} a line, seed {seed}): each number estimates the bound "
            f"on -log p(line), in nats, +- its standard error")
    say(f"# {'mean':<15}{sign} {bound.mean():.3f} nats per {line_name}{spread}")
    say(f"# {'per ' + token:<15}{sign} {per_token:.4f} nats = {per_token / np.log(2):.4f} bits "
        f"({plural(int(tokens.sum()), 'token')}: the {token}s, and the end marker {end} of "
        f"each line that has room for it)")
    if len(keep) < len(lines):
        say(f"# {'not scored':<15}{plural(len(lines) - len(keep), line_name)} of probability 0 "
            f"(listed on stderr), left out of the means")
    return 0


# -- argument parsing --------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="minisedd: train a score entropy discrete diffusion model on your own "
                    "sentences (one a line) or words (--chars, one a line), sample from it, and "
                    "score text with it.",
        epilog=f"examples:\n  {PROG} train examples/corpus.txt --graph absorbing --out model.npz\n"
               f"  {PROG} sample model.npz --num 10\n"
               f"  {PROG} sample model.npz --num 10 --prompt \"the _ sleeps .\"\n"
               f"  {PROG} train examples/names.txt --chars --out names.npz\n"
               f"  {PROG} sample names.npz --num 10 --prompt \"mc_____\"\n"
               f"  {PROG} score names.npz held_out.txt\n"
               f"run '{PROG} <command> --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)

    tr = commands.add_parser(
        "train", help="train a model on a text file, one sentence a line",
        description="Train a score network (a ScoreMLP, or a ScoreTransformer with --model "
                    "transformer) on a text file (one sentence a line, words separated by "
                    "whitespace) and save it with its vocabulary. Vocabulary: <pad>, the words in "
                    "order of first appearance, [MASK] (absorbing graph). Sentences are filled "
                    "with <pad> up to the longest line. With --chars each line is a sequence of "
                    "characters: vocabulary <end>, the characters, [MASK]; L = longest line + 1.")
    tr.add_argument("corpus", help="text file, one sentence a line (blank lines are skipped)")
    tr.add_argument("--chars", action="store_true",
                    help="character level: each line is a sequence of characters (a name, a "
                         "word), ended by <end>")
    tr.add_argument("--model", choices=("mlp", "transformer"), default="mlp",
                    help="the network: 'mlp' (ScoreMLP, --hidden/--depth) or 'transformer' "
                         "(ScoreTransformer, --d-model/--n-layers/--n-heads); default: mlp")
    tr.add_argument("--graph", choices=("absorbing", "uniform"), default="absorbing",
                    help="forward process: 'absorbing' (words turn into [MASK], LogLinear(1e-3) "
                         "noise) or 'uniform' (words turn into any word, Geometric(1e-4, 20) "
                         "noise); default: absorbing")
    tr.add_argument("--steps", type=positive_int, default=3000,
                    help="Adam steps (default: 3000)")
    tr.add_argument("--hidden", type=positive_int, default=None,
                    help="width of the MLP's hidden layers, --model mlp only (default: 128)")
    tr.add_argument("--depth", type=positive_int, default=None,
                    help="number of hidden layers, --model mlp only (default: 2)")
    tr.add_argument("--d-model", type=positive_int, default=None,
                    help="transformer width, --model transformer only (default: 64)")
    tr.add_argument("--n-layers", type=positive_int, default=None,
                    help="transformer blocks, --model transformer only (default: 2)")
    tr.add_argument("--n-heads", type=positive_int, default=None,
                    help="attention heads, dividing --d-model, --model transformer only "
                         "(default: 4)")
    tr.add_argument("--batch-size", type=positive_int, default=128,
                    help="sentences per step (default: 128, half of train()'s default: as good "
                         "on a 50-line corpus, and faster)")
    tr.add_argument("--lr", type=positive_float, default=3e-3,
                    help="peak learning rate, cosine decay to lr/10 (default: 0.003)")
    tr.add_argument("--seed", type=nonneg_int, default=0,
                    help="seeds the initialization, the batches and the noise (default: 0)")
    tr.add_argument("--out", default="model.npz",
                    help="where to save the checkpoint, a .npz file (default: model.npz)")
    tr.set_defaults(run=cmd_train)

    sa = commands.add_parser(
        "sample", help="draw sentences from a trained model",
        description="Draw sentences (or words) from a model saved by 'train', one a line. A "
                    "sample ends at its first <pad> (<end> for a character model): what a model "
                    "puts after it is not printed.")
    sa.add_argument("model", help="checkpoint written by 'train' (.npz)")
    sa.add_argument("--num", type=positive_int, default=10,
                    help="number of sentences to draw (default: 10)")
    sa.add_argument("--prompt", default=None,
                    help="a sentence with '_' at free positions, e.g. \"the _ sleeps .\" (for a "
                         "character model a string, e.g. \"mc_____\"); the other words are held. "
                         "A prompt shorter than the model's length L is filled with <pad> "
                         "(<end>) at the end, held too, so it bounds the length (a note on "
                         "stderr says so); longer is an error")
    sa.add_argument("--steps", type=positive_int, default=64,
                    help="reverse-process steps (default: 64)")
    sa.add_argument("--method", choices=METHODS, default="tweedie",
                    help="reverse step: 'tweedie' (tau-leaping with the Tweedie denoiser) or "
                         "'euler' (default: tweedie)")
    sa.add_argument("--seed", type=nonneg_int, default=0,
                    help="seeds the sampler (default: 0)")
    sa.set_defaults(run=cmd_sample)

    sc = commands.add_parser(
        "score", help="bound the negative log-probability of each line of a file",
        description="For each line of a text file (read as the model's corpus was: words, or "
                    "characters for a --chars model), print an upper bound on -log p(line) in "
                    "nats under a model saved by 'train' (the negative ELBO, lessons 04 and 10), "
                    "then, on lines that start with '#', the mean per line and per word "
                    "(character), the end marker counted as one. A line with a word or character "
                    "the model never saw, or longer than its rows, has probability 0: it is "
                    "listed on stderr and printed as inf. Sort the lines with 'sort -g' (numbers "
                    "in order, inf last, the '#' lines first).")
    sc.add_argument("model", help="checkpoint written by 'train' (.npz)")
    sc.add_argument("file", help="text file, one sentence (word) a line; blank lines are skipped")
    sc.add_argument("--method", choices=("mc", "exact"), default="mc",
                    help="'mc' draws noisy rows, --samples a line (on the absorbing graph it "
                         "draws the number of masked positions first, lesson 10); 'exact' sums "
                         "over every noisy row a line can become (2^L on the absorbing graph) "
                         "at dozens of noise levels: for short rows and a few lines only (4 "
                         "words of 12 characters take about a minute), at most "
                         f"{MAX_EXACT_STATES:,} noisy rows (default: mc)")
    sc.add_argument("--samples", type=int_in(2, MAX_SAMPLES), default=None,
                    help=f"Monte Carlo draws per line, 2 to {MAX_SAMPLES:,} (default: "
                         f"{DEFAULT_SAMPLES})")
    sc.add_argument("--seed", type=nonneg_int, default=None,
                    help="seeds the Monte Carlo draws, together with each line's own tokens, so "
                         "that a line gets the same estimate in any file (default: 0)")
    sc.set_defaults(run=cmd_score)
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
        silence_stdout()
        return 1
    except KeyboardInterrupt:            # Ctrl-C: a line, not a traceback
        saved = "; nothing was saved (train saves its model when it finishes)" \
            if args.command == "train" else ""
        print(f"{PROG} {args.command}: interrupted{saved}", file=sys.stderr)
        return 130
