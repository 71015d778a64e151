"""The ``tapeflow`` command: help, version, the subcommand table, and the demo end to end (short settings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tapeflow as tp
from tapeflow.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name}" in out
    assert main([]) == 2  # no command: usage, and a non-zero status


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tapeflow {tp.__version__}"


def test_unknown_command_lists_the_choices(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'; choose one of ['demo', 'launch']" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_entry_point():
    proc = subprocess.run([sys.executable, "-m", "tapeflow", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"tapeflow {tp.__version__}"


def test_demo_help_and_bad_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    options = ("--dataset", "--model", "--optimizer", "--learning-rate", "--epochs", "--batch-size", "--seed",
               "--out")
    for option in options:
        assert option in out
    with pytest.raises(SystemExit):
        main(["demo", "--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])
    assert "--epochs must be a positive integer. Received: 0" in capsys.readouterr().err


def _opts(**kw):
    from tapeflow.cli.demo import parser

    args = []
    for key, value in kw.items():
        args += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    return parser().parse_args(args)


def test_demo_default_run_reaches_95_percent_and_writes_the_plot(tmp_path, capsys):
    from tapeflow.cli.demo import run

    result = run(_opts(out=tmp_path, quiet=True))
    out = capsys.readouterr().out
    assert result["accuracy"] >= 0.95, result
    assert f"Test accuracy: {result['accuracy']:.4f}" in out
    png = tmp_path / "history.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_demo_command_shows_progress_and_other_datasets_run(tmp_path, capsys):
    assert main(["demo", "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    # Captured output is not a terminal: one line per epoch (verbose="auto"), no carriage-return bar junk.
    assert "Epoch 2/2" in out and "34/34 - " in out and "Test accuracy:" in out
    assert "\r" not in out
    assert (tmp_path / "a" / "history.png").exists()
    assert main(["demo", "--dataset", "mtcars", "--epochs", "3", "--quiet", "--out", str(tmp_path / "b")]) \
        == 0
    assert "Test mean absolute error:" in capsys.readouterr().out
    args = ["--dataset", "iris", "--optimizer", "sgd", "--learning-rate", "0.1", "--epochs", "2", "--quiet"]
    assert main(["demo", *args, "--out", str(tmp_path / "c")]) == 0
    assert "SGD learning_rate=0.1" in capsys.readouterr().out


def test_demo_each_optimizer_gets_a_rate_that_suits_it(tmp_path, capsys):
    # Trip-up 5: `--optimizer sgd` used to keep Adam's 0.003 and score 0.84, teaching "SGD is bad".
    from tapeflow.cli.demo import default_learning_rate, run

    assert default_learning_rate("sgd", "digits") > 30 * default_learning_rate("adam", "digits")
    result = run(_opts(optimizer="sgd", out=tmp_path, quiet=True))
    assert "SGD learning_rate=0.3" in capsys.readouterr().out
    assert result["accuracy"] >= 0.95, result


@pytest.mark.parametrize("args, message", [
    (["--learning-rate", "0"], "--learning-rate must be a positive number. Received: 0.0"),
    (["--learning-rate", "-0.1"], "--learning-rate must be a positive number. Received: -0.1"),
    (["--learning-rate", "nan"], "--learning-rate must be a positive number. Received: nan"),
    (["--learning-rate", "inf"], "--learning-rate must be a positive number. Received: inf"),
    (["--learning-rate", "fast"], "invalid float value: 'fast'"),
    (["--batch-size", "0"], "--batch-size must be a positive integer. Received: 0"),
    (["--seed", "-1"], "--seed must be a non-negative integer. Received: -1"),
])
def test_demo_refuses_bad_values_instead_of_falling_back(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_prints_the_score_first_and_survives_a_missing_matplotlib(tmp_path, capsys, monkeypatch):
    # Trip-up 1: with a Python that has no matplotlib the demo trained, then crashed and lost the score.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    assert main(["demo", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("Test accuracy:") < out.index("History plot: not drawn, matplotlib is not installed")
    assert "-m pip install matplotlib" in out and 'pip install -e ".[plot]"' in out
    assert not (tmp_path / "history.png").exists()


def test_demo_cnn_one_epoch(tmp_path, capsys):
    assert main(["demo", "--model", "cnn", "--epochs", "1", "--batch-size", "64", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert "cnn on digits" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--model", "cnn", "--dataset", "iris", "--out", str(tmp_path)])
    assert "--model cnn needs an image dataset (digits, mnist, fashion_mnist)" in capsys.readouterr().err


def test_demo_unknown_optimizer_and_offline_mnist(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["demo", "--optimizer", "adamm"])
    assert "Unknown optimizer 'adamm'" in capsys.readouterr().err
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TAPEFLOW_DATA_DIR", raising=False)
    monkeypatch.setattr(tp.datasets.mnist, "MIRRORS", ("http://127.0.0.1:9/",))
    assert main(["demo", "--dataset", "mnist", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not available offline" in err and "TAPEFLOW_DATA_DIR" in err
