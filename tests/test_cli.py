"""The command line (minisedd/cli.py): train on a text file, sample with and without a prompt,
--help everywhere, and one clear message (exit status 2, no traceback) for each bad input.

Tests call cli.main(argv) in the same process (fast); one test runs `python -m minisedd --help`
in a subprocess to show the module entry point works.
"""
import io
import subprocess
import sys

import numpy as np
import pytest

from minisedd import Absorbing, LogLinear, ScoreMLP, nelbo
from minisedd.cli import main, sample_text
from minisedd.transformer import ScoreTransformer

CORPUS = """the cat sleeps .
the dogs run .

a bird sings quietly .
we see the bird .
"""
WORDS = ["the", "cat", "sleeps", ".", "dogs", "run", "a", "bird", "sings", "quietly", "we", "see"]
L = 5                                   # the longest line, "a bird sings quietly ."
TINY = ["--steps", "30", "--hidden", "16", "--depth", "1", "--batch-size", "16"]
NAMES = "smith\njohnson\nmcdonald\nmccoy\n\n  lee  \nmcbride\nanderson\n"


def run(capsys, *argv):
    """main(argv) -> (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An absorbing-graph model trained for a few steps on CORPUS, and its training output."""
    folder = tmp_path_factory.mktemp("cli")
    corpus = folder / "corpus.txt"
    corpus.write_text(CORPUS)
    out = folder / "model.npz"
    buffer = io.StringIO()                          # main's output stream (capsys is per test)
    code = main(["train", str(corpus), "--graph", "absorbing", "--out", str(out), *TINY],
                out=buffer)
    return folder, out, code, buffer.getvalue()


def assert_error(code, out, err, *fragments):
    """Exit status 2, one message on stderr containing each fragment, no traceback."""
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


# -- train ------------------------------------------------------------------------------------
def test_train_saves_vocabulary_length_and_noise(trained):
    folder, out, code, printed = trained
    assert code == 0
    assert printed.count("step ") >= 2                     # progress lines from train()
    assert f"saved to     {out}" in printed
    model = ScoreMLP.load(out)
    assert model.meta["vocab"] == ["<pad>"] + WORDS + ["[MASK]"]
    assert model.length == L
    assert model.graph.kind == "absorbing" and model.graph.n == len(WORDS) + 2
    assert model.meta["graph"] == "absorbing"
    assert model.meta["noise"] == {"kind": "loglinear", "eps": 1e-3}


def test_train_uniform_graph(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    code, out, err = run(capsys, "train", corpus, "--graph", "uniform", "--out", tmp_path / "u",
                         *TINY)
    assert code == 0, err
    model = ScoreMLP.load(tmp_path / "u.npz")            # the .npz suffix is added
    assert model.meta["vocab"] == ["<pad>"] + WORDS      # no [MASK] on the uniform graph
    assert model.graph.kind == "uniform" and model.graph.n == len(WORDS) + 1
    assert model.meta["noise"] == {"kind": "geometric", "sigma_min": 1e-4, "sigma_max": 20.0}


# -- sample -----------------------------------------------------------------------------------
def test_sample_prints_num_sentences_of_known_words(trained, capsys):
    _, model, _, _ = trained
    code, out, err = run(capsys, "sample", model, "--num", 7, "--steps", 8)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 7
    for line in lines:
        words = line.split()
        assert len(words) <= L
        assert set(words) <= set(WORDS) | {"<pad>"}         # never [MASK]
        assert not words or words[-1] != "<pad>"            # trailing <pad> removed


def test_sample_with_prompt_holds_words_and_pads(trained, capsys):
    _, model, _, _ = trained
    code, out, err = run(capsys, "sample", model, "--num", 6, "--steps", 8, "--method", "euler",
                         "--prompt", "the _ sleeps .")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 6
    for line in lines:
        words = line.split()
        # four words: the fifth position is held at <pad> (the prompt is shorter than L = 5);
        # a <pad> drawn at the free position would end the sentence after "the"
        assert words == ["the"] or len(words) == 4
        assert words[0] == "the" and words[2:] in ([], ["sleeps", "."])
        assert "<pad>" not in words
    # the shorter prompt is said on stderr, once
    assert err.count("note: the prompt has 4 words") == 1 and "held at <pad>" in err


def test_full_length_prompt_has_no_note(trained, capsys):
    _, model, _, _ = trained
    code, out, err = run(capsys, "sample", model, "--num", 2, "--steps", 2,
                         "--prompt", "_ bird _ _ .")
    assert code == 0 and err == ""
    assert all(line.split()[1] == "bird" for line in out.splitlines())


def test_a_sample_ends_at_its_first_pad():
    vocab = ["<pad>", "the", "tea", "is", "cold", ".", "[MASK]"]
    # "the tea is cold . <pad> ." -- a word after a <pad> is not part of the sentence
    assert sample_text(np.array([1, 2, 3, 4, 5, 0, 5]), vocab) == "the tea is cold ."
    assert sample_text(np.array([0, 2, 3]), vocab) == ""
    assert sample_text(np.array([1, 2, 3]), vocab) == "the tea is"
    chars = ["<end>", "a", "c", "m", "[MASK]"]
    assert sample_text(np.array([3, 2, 1, 0, 1]), chars, unit="chars") == "mca"


def test_one_line_corpus_speaks_singular_and_has_entropy_zero(tmp_path, capsys):
    corpus = tmp_path / "one.txt"
    corpus.write_text("the cat sleeps .\n")
    code, out, err = run(capsys, "train", corpus, "--out", tmp_path / "one.npz", *TINY)
    assert code == 0, err
    assert "1 sentence, 4 distinct words" in out
    assert "data entropy 0.0000 nats per sentence" in out and "-0.0000" not in out


def test_sample_same_seed_same_output(trained, capsys):
    _, model, _, _ = trained
    first = run(capsys, "sample", model, "--num", 5, "--steps", 4, "--seed", 3)
    second = run(capsys, "sample", model, "--num", 5, "--steps", 4, "--seed", 3)
    assert first[0] == 0 and first == second


# -- characters and the transformer ----------------------------------------------------------
@pytest.fixture(scope="module")
def names_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names")
    corpus = folder / "names.txt"
    corpus.write_text(NAMES)
    out = folder / "names.npz"
    buffer = io.StringIO()
    code = main(["train", str(corpus), "--chars", "--out", str(out), *TINY], out=buffer)
    return out, code, buffer.getvalue()


def test_train_chars_vocabulary_and_length(names_model):
    out, code, printed = names_model
    assert code == 0
    assert "7 words, 16 distinct characters, length L = 9" in printed
    model = ScoreMLP.load(out)
    # <end>, the characters sorted, [MASK]; L = the longest line ("mcdonald", "anderson") + 1
    assert model.meta["vocab"] == ["<end>"] + sorted(set("smithjohnsonmcdonaldmccoyleembride"
                                                          "anderson")) + ["[MASK]"]
    assert model.meta["unit"] == "chars" and model.length == 9


def test_sample_chars_with_prompt(names_model, capsys):
    out, _, _ = names_model
    code, text, err = run(capsys, "sample", out, "--num", 8, "--steps", 8, "--prompt", "mc___")
    assert code == 0
    lines = text.splitlines()
    assert len(lines) == 8
    letters = set("smithjohnsonmcdonaldmccoyleembrideanderson")
    for line in lines:
        assert line.startswith("mc") and len(line) <= 5 and set(line) <= letters
    assert "note: the prompt has 5 characters" in err and "at most 5 characters" in err
    code, text, err = run(capsys, "sample", out, "--num", 3, "--steps", 4)
    assert code == 0 and all(set(line) <= letters for line in text.splitlines())


def test_chars_errors(names_model, tmp_path, capsys):
    out, _, _ = names_model
    assert_error(*run(capsys, "sample", out, "--prompt", "mq___"), "'q'",
                 "not in the model's vocabulary")
    assert_error(*run(capsys, "sample", out, "--prompt", "mc________"), "10 characters",
                 "at most 9")
    corpus = tmp_path / "c.txt"
    corpus.write_text("smith\nmc_coy\n")
    assert_error(*run(capsys, "train", corpus, "--chars", *TINY), "reserved", "line 2")


def test_transformer_checkpoint_trains_and_samples(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    path = tmp_path / "t.npz"
    code, out, err = run(capsys, "train", corpus, "--model", "transformer", "--d-model", 8,
                         "--n-heads", 2, "--n-layers", 1, "--steps", 5, "--batch-size", 8,
                         "--out", path)
    assert code == 0, err
    model = ScoreTransformer.load(path)                 # the file's format tag says which
    assert model.d_model == 8 and model.meta["vocab"] == ["<pad>"] + WORDS + ["[MASK]"]
    code, out, err = run(capsys, "sample", path, "--num", 3, "--steps", 4,
                         "--prompt", "the _ _ .")
    assert code == 0, err
    assert all(line.split()[0] == "the" for line in out.splitlines())
    assert_error(*run(capsys, "train", corpus, "--model", "transformer", "--d-model", 10,
                      "--n-heads", 4, "--out", path), "--d-model (10)", "--n-heads (4)")


# -- score --------------------------------------------------------------------------------------
def score_output(text):
    """score's stdout -> (the number printed for each line, as text, and the summary lines,
    which start with '#')."""
    lines = text.splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith("#"))
    assert all(line.startswith("# ") for line in lines[first:])
    return [line.split()[0] for line in lines[:first]], lines[first:]


def test_score_prints_the_exact_bound_of_each_line(trained, tmp_path, capsys):
    folder, path, _, _ = trained
    held = tmp_path / "held.txt"
    held.write_text("the cat sleeps .\nthe zebra sleeps .\n\na bird sings quietly .\n"
                    "the dogs run . . .\nwe see the cats .\n")
    code, out, err = run(capsys, "score", path, held, "--method", "exact")
    assert code == 0, err
    numbers, summary = score_output(out)
    model = ScoreMLP.load(path)
    vocab = model.meta["vocab"]
    x0 = np.array([[vocab.index(w) for w in line.split()] + [0] * (L - len(line.split()))
                   for line in ("the cat sleeps .", "a bird sings quietly .")])
    bound, _ = nelbo(model, LogLinear(1e-3), x0, method="exact")
    assert numbers == [f"{bound[0]:.3f}", "inf", f"{bound[1]:.3f}", "inf", "inf"]
    assert "line 2 ('the zebra sleeps .')" in err and "'zebra'" in err
    assert "line 5 ('the dogs run . . .')" in err and "6 words" in err and "at most 5" in err
    assert "'cats'" in err                               # not in the corpus: only "cat"
    assert "# 2 sentences scored exactly" in summary[0]
    assert f"<= {bound.mean():.3f} nats per sentence" in summary[1]
    # "the cat sleeps ." and its <pad>: 5 tokens; "a bird sings quietly ." fills the row: 5
    per_token = bound.sum() / 10
    assert f"<= {per_token:.4f} nats = {per_token / np.log(2):.4f} bits (10 tokens" in summary[2]
    assert "3 sentences of probability 0" in summary[3]


def test_score_monte_carlo_is_seeded_and_near_the_exact_bound(trained, tmp_path, capsys):
    _, path, _, _ = trained
    held = tmp_path / "held.txt"
    held.write_text(CORPUS)
    exact = score_output(run(capsys, "score", path, held, "--method", "exact")[1])[0]
    mc = run(capsys, "score", path, held, "--method", "mc", "--samples", 400, "--seed", 1)
    assert mc == run(capsys, "score", path, held, "--method", "mc", "--samples", 400, "--seed", 1)
    other = run(capsys, "score", path, held, "--method", "mc", "--samples", 400, "--seed", 2)
    assert other[1] != mc[1]
    assert "by Monte Carlo (400 draws a line, seed 1)" in mc[1]
    lines = mc[1].splitlines()[:len(exact)]
    for line, value in zip(lines, exact):        # "  4.670 +-   0.489  the cat sleeps ."
        estimate, _, error = line.split()[:3]
        assert abs(float(estimate) - float(value)) < 4 * float(error)


def test_score_characters_count_the_end_marker(names_model, tmp_path, capsys):
    path, _, _ = names_model
    held = tmp_path / "held.txt"
    held.write_text("smith\nlee\nquinn\nmcdonalds\n")
    code, out, err = run(capsys, "score", path, held, "--method", "exact")
    assert code == 0, err
    numbers, summary = score_output(out)
    assert numbers[2:] == ["inf", "inf"]
    assert "'q'" in err and "9 characters, and this model's rows hold at most 8" in err
    bound = np.array([float(v) for v in numbers[:2]])
    per_char = bound.sum() / (6 + 4)                # smith<end>, lee<end>
    printed = float(summary[2].split("<=")[1].split()[0])          # exact: a bound, "<="
    assert abs(printed - per_char) < 1e-3 and "(10 tokens" in summary[2]
    assert "2 words scored exactly" in summary[0]


def test_score_errors(trained, names_model, tmp_path, capsys):
    _, path, _, _ = trained
    held = tmp_path / "held.txt"
    held.write_text("the zebra sleeps .\n")
    assert_error(*run(capsys, "score", path, held), "no line of", "can be scored")
    held.write_text("the cat sleeps .\nthe _ sleeps .\n<pad> . \n")   # reserved words: unseen ones
    code, out, err = run(capsys, "score", path, held)
    assert code == 0 and score_output(out)[0][1:] == ["inf", "inf"]
    assert "line 2 ('the _ sleeps .')" in err and "line 3 ('<pad> .')" in err
    assert_error(*run(capsys, "score", path, tmp_path / "none.txt"), "does not exist")
    names, _, _ = names_model                        # 2^9 noisy rows for each line
    many = tmp_path / "many.txt"
    many.write_text("smith\n" * 600)
    assert_error(*run(capsys, "score", names, many, "--method", "exact"), "307,200 noisy rows",
                 "--method mc")


# -- help -------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    ([], ["train", "sample"]),
    (["train"], ["--graph", "--steps", "--hidden", "--depth", "--batch-size", "--lr", "--seed",
                 "--out", "--chars", "--model", "--d-model", "--n-layers", "--n-heads"]),
    (["sample"], ["--num", "--prompt", "--steps", "--method", "--seed", "first <pad>"]),
    (["score"], ["--method", "--samples", "--seed", "probability 0"]),
])
def test_help(capsys, argv, expected):
    code, out, _ = run(capsys, *argv, "--help")
    assert code == 0
    assert out.startswith("usage: python -m minisedd")
    for option in expected:
        assert option in out


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "minisedd", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "usage: python -m minisedd" in result.stdout and "sample" in result.stdout


# -- errors -----------------------------------------------------------------------------------
def test_missing_corpus(tmp_path, capsys):
    assert_error(*run(capsys, "train", tmp_path / "nope.txt"), "nope.txt", "does not exist")


def test_empty_corpus(tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n   \n\n")
    assert_error(*run(capsys, "train", corpus, *TINY), "empty.txt", "has only blank lines")
    corpus.write_text("")
    assert_error(*run(capsys, "train", corpus, *TINY), "empty.txt", "is empty")


def test_corpus_not_text(tmp_path, capsys):
    corpus = tmp_path / "c.bin"
    corpus.write_bytes(bytes([0xFF, 0xFE, 0x00, 0x81]) * 8)
    assert_error(*run(capsys, "train", corpus, *TINY), "c.bin", "not UTF-8 text")


def test_reserved_word_in_corpus(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sleeps .\nthe _ runs .\n")
    assert_error(*run(capsys, "train", corpus, *TINY), "reserved", "line 2: '_'")


def test_output_folder_missing(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    assert_error(*run(capsys, "train", corpus, "--out", tmp_path / "no" / "m.npz", *TINY),
                 "does not exist")


def test_prompt_too_long(trained, capsys):
    _, model, _, _ = trained
    assert_error(*run(capsys, "sample", model, "--prompt", "the cat _ _ _ _ ."),
                 "7 words", f"at most {L}")


def test_prompt_unknown_words_are_listed(trained, capsys):
    _, model, _, _ = trained
    code, out, err = run(capsys, "sample", model, "--prompt", "the cow _ moos")
    assert_error(code, out, err, "not in the model's vocabulary", "'cow'", "'moos'")
    assert "'the'" not in err


def test_prompt_cannot_hold_mask(trained, capsys):
    _, model, _, _ = trained
    assert_error(*run(capsys, "sample", model, "--prompt", "the [MASK] sleeps ."), "'[MASK]'")


def test_empty_prompt(trained, capsys):
    _, model, _, _ = trained
    assert_error(*run(capsys, "sample", model, "--prompt", "  "), "prompt is empty")


def test_missing_model_file(tmp_path, capsys):
    assert_error(*run(capsys, "sample", tmp_path / "none.npz"), "none.npz", "does not exist")


def test_text_file_is_not_a_checkpoint(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text(CORPUS)
    assert_error(*run(capsys, "sample", path), "notes.txt",
                 "not a minisedd checkpoint (not an .npz archive)")


def test_truncated_checkpoint(trained, tmp_path, capsys):
    _, out, _, _ = trained
    path = tmp_path / "cut.npz"
    path.write_bytes(out.read_bytes()[:200])                       # a zip archive cut short
    assert_error(*run(capsys, "sample", path), "cut.npz", "not a readable minisedd checkpoint")


def test_foreign_npz_is_not_a_checkpoint(tmp_path, capsys):
    path = tmp_path / "weights.npz"
    np.savez(path, w=np.ones(3))
    assert_error(*run(capsys, "sample", path), "weights.npz",
                 "not a minisedd checkpoint of a score model", "no format tag")


def test_checkpoint_saved_from_python_has_no_cli_meta(tmp_path, capsys):
    path = tmp_path / "python.npz"
    ScoreMLP(Absorbing(5), 3, hidden=8, depth=1, rng=0).save(path)    # meta is {}: no vocabulary
    assert_error(*run(capsys, "sample", path), "python.npz", "not written by", "vocabulary")


def test_checkpoint_with_inconsistent_meta(trained, tmp_path, capsys):
    _, out, _, _ = trained
    model = ScoreMLP.load(out)
    model.meta["vocab"] = model.meta["vocab"][:-2] + ["[MASK]"]   # one token short of the graph
    path = tmp_path / "short.npz"
    model.save(path)
    assert_error(*run(capsys, "sample", path), "damaged command-line meta", "tokens")


@pytest.mark.parametrize("argv, fragment", [
    (["train", "c.txt", "--steps", "0"], "--steps: must be an integer >= 1, got 0"),
    (["train", "c.txt", "--hidden", "-3"], "--hidden: must be an integer >= 1, got -3"),
    (["train", "c.txt", "--lr", "0"], "--lr: must be a finite number > 0, got 0"),
    (["train", "c.txt", "--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
    (["train", "c.txt", "--batch-size", "2.5"], "--batch-size: must be an integer >= 1, got '2.5'"),
    (["train", "c.txt", "--graph", "circle"], "--graph: invalid choice: 'circle'"),
    (["train", "c.txt", "--model", "rnn"], "--model: invalid choice: 'rnn'"),
    (["train", "c.txt", "--d-model", "0"], "--d-model: must be an integer >= 1, got 0"),
    (["sample", "m.npz", "--num", "0"], "--num: must be an integer >= 1, got 0"),
    (["sample", "m.npz", "--steps", "0"], "--steps: must be an integer >= 1, got 0"),
    (["sample", "m.npz", "--seed", "-1"], "--seed: must be an integer >= 0, got -1"),
    (["sample", "m.npz", "--method", "ddpm"], "--method: invalid choice: 'ddpm'"),
    (["score", "m.npz", "f.txt", "--samples", "1"], "--samples: must be an integer >= 2, got 1"),
    (["score", "m.npz", "f.txt", "--method", "auto"], "--method: invalid choice"),
    ([], "required: command"),
])
def test_bad_numbers_and_choices(capsys, argv, fragment):
    assert_error(*run(capsys, *argv), fragment)


# -- what a new user met: options of the other network, --out, names, reserved words, Ctrl-C --
@pytest.mark.parametrize("extra, fragment", [
    (["--model", "transformer", "--hidden", "32"],
     "--hidden is an option of --model mlp, and this run trains --model transformer"),
    (["--model", "transformer", "--depth", "1"], "--depth is an option of --model mlp"),
    (["--d-model", "8"], "--d-model is an option of --model transformer, and this run trains "
                         "--model mlp"),
    (["--n-heads", "2"], "--n-heads is an option of --model transformer"),
])
def test_an_option_of_the_other_network_is_an_error(tmp_path, capsys, extra, fragment):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    out = tmp_path / "m.npz"
    assert_error(*run(capsys, "train", corpus, "--out", out, "--steps", 2, *extra), fragment)
    assert not out.exists()


def test_out_must_name_a_file_and_is_checked_before_training(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    (tmp_path / "d.npz").mkdir()
    for bad, fragment in ((tmp_path, "--out must name a file"), ("", "--out must name a file"),
                          (str(tmp_path) + "/", "--out must name a file"),
                          (tmp_path / "d", "it is a folder")):
        code, out, err = run(capsys, "train", corpus, "--out", bad, *TINY)
        assert_error(code, out, err, fragment)
        assert "training" not in out                   # refused before any training


def test_sample_reads_the_npz_that_train_out_without_npz_wrote(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    code, out, err = run(capsys, "train", corpus, "--out", tmp_path / "mine", "--steps", 1,
                         "--hidden", 8, "--depth", 1, "--batch-size", 4)
    assert code == 0, err
    assert (tmp_path / "mine.npz").exists() and not (tmp_path / "mine").exists()
    # one step: no progress line in the plural, and the summary in the singular
    assert "training 1 step, batch 4" in out and "(mean of the last step:" in out
    assert "step     1/1  loss" in out                 # a short run still shows its steps
    code, text, err = run(capsys, "sample", tmp_path / "mine", "--num", 2, "--steps", 2)
    assert code == 0 and len(text.splitlines()) == 2, err


def test_prompt_cannot_hold_reserved_words(trained, names_model, capsys):
    _, model, _, _ = trained
    assert_error(*run(capsys, "sample", model, "--prompt", "the <pad> _"), "'<pad>'",
                 "reserved", "write '_' for a free position")
    chars, _, _ = names_model
    assert_error(*run(capsys, "sample", chars, "--prompt", "mc________"),
                 "at most 9 (the longest line of its corpus plus the end marker)")


def test_short_prompt_note_grammar(names_model, capsys):
    chars, _, _ = names_model
    code, _, err = run(capsys, "sample", chars, "--num", 1, "--steps", 2, "--prompt", "mc______")
    assert code == 0
    assert "this model's rows have 9 positions: the other 1 is held at <end>" in err


def test_ctrl_c_during_training_prints_a_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import minisedd.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "train", interrupted)
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    code, out, err = run(capsys, "train", corpus, "--out", tmp_path / "m.npz", *TINY)
    assert code == 130 and "Traceback" not in err
    assert "interrupted; nothing was saved" in err and not (tmp_path / "m.npz").exists()


def test_a_reader_that_stops_reading_does_not_stop_training(tmp_path):
    class ClosedPipe(io.StringIO):                 # like `... | head -1` after its first line
        def write(self, text):
            if self.getvalue():
                raise BrokenPipeError
            return super().write(text)
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS)
    pipe = ClosedPipe()
    code = main(["train", str(corpus), "--out", str(tmp_path / "m.npz"), *TINY], out=pipe)
    assert code == 0 and (tmp_path / "m.npz").exists()
    assert pipe.getvalue().startswith("corpus ") and "graph" not in pipe.getvalue()


def test_score_gives_a_line_the_same_estimate_whatever_else_the_file_holds(names_model, tmp_path,
                                                                         capsys):
    path, _, _ = names_model
    alone, many = tmp_path / "alone.txt", tmp_path / "many.txt"
    alone.write_text("smith\n")
    many.write_text("lee\nmccoy\nsmith\n")
    first = run(capsys, "score", path, alone)[1].splitlines()[0]
    third = run(capsys, "score", path, many)[1].splitlines()[2]
    assert first == third and first.endswith("smith") and "+-" in first


def test_score_options_and_messages(names_model, tmp_path, capsys):
    path, _, _ = names_model
    held = tmp_path / "held.txt"
    held.write_text("smith\n" + "x" * 500 + "\n[MASK]x\n")
    code, out, err = run(capsys, "score", path, held)
    assert code == 0
    assert "# mean           ~= " in out                # an estimate of a bound, not a bound
    assert "line 2 ('" + "x" * 57 + "...')" in err      # a long line is cut in messages
    assert "7 characters not in the model's vocabulary: '[', 'M', 'A', 'S', 'K', ...\n" in err
    assert_error(*run(capsys, "score", path, held, "--method", "exact", "--seed", "1"),
                 "--method exact draws nothing")
    assert_error(*run(capsys, "score", path, held, "--samples", "1000000"),
                 "--samples: must be an integer from 2 to 100,000")
    assert_error(*run(capsys, "score", path, tmp_path), "is a folder, not a file")
