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
