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

from minisedd import Absorbing, ScoreMLP
from minisedd.cli import main

CORPUS = """the cat sleeps .
the dogs run .

a bird sings quietly .
we see the bird .
"""
WORDS = ["the", "cat", "sleeps", ".", "dogs", "run", "a", "bird", "sings", "quietly", "we", "see"]
L = 5                                   # the longest line, "a bird sings quietly ."
TINY = ["--steps", "30", "--hidden", "16", "--depth", "1", "--batch-size", "16"]


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
        # four words: the fifth position is held at <pad> (the prompt is shorter than L = 5)
        assert len(words) == 4
        assert (words[0], words[2], words[3]) == ("the", "sleeps", ".")
        assert words[1] in set(WORDS) | {"<pad>"}


def test_sample_same_seed_same_output(trained, capsys):
    _, model, _, _ = trained
    first = run(capsys, "sample", model, "--num", 5, "--steps", 4, "--seed", 3)
    second = run(capsys, "sample", model, "--num", 5, "--steps", 4, "--seed", 3)
    assert first[0] == 0 and first == second


# -- help -------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    ([], ["train", "sample"]),
    (["train"], ["--graph", "--steps", "--hidden", "--depth", "--batch-size", "--lr", "--seed",
                 "--out"]),
    (["sample"], ["--num", "--prompt", "--steps", "--method", "--seed"]),
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
    assert_error(*run(capsys, "sample", path), "weights.npz", "not a minisedd ScoreMLP checkpoint")


def test_checkpoint_saved_from_python_has_no_cli_meta(tmp_path, capsys):
    path = tmp_path / "python.npz"
    ScoreMLP(Absorbing(5), 3, hidden=8, depth=1).save(path)        # meta is {}: no vocabulary
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
    (["sample", "m.npz", "--num", "0"], "--num: must be an integer >= 1, got 0"),
    (["sample", "m.npz", "--steps", "0"], "--steps: must be an integer >= 1, got 0"),
    (["sample", "m.npz", "--seed", "-1"], "--seed: must be an integer >= 0, got -1"),
    (["sample", "m.npz", "--method", "ddpm"], "--method: invalid choice: 'ddpm'"),
    ([], "required: command"),
])
def test_bad_numbers_and_choices(capsys, argv, fragment):
    assert_error(*run(capsys, *argv), fragment)
