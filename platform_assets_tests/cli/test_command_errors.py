"""``platform-assets`` errors a user can fix: one line naming the problem and the fix, a non-zero exit,
no traceback; and what ``--help``, ``--version`` and ``models`` show."""

import re
import shutil
from pathlib import Path

import pytest

from platform_assets.cli.commands import build_parser, main

LEGACY_MODELS = Path(__file__).parents[1] / "fixtures" / "legacy_models"


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    data = tmp_path / "data"
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(data))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return data


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("command", [["models", "list"], ["register-files"], ["demo"]])
def test_a_bad_setting_is_one_line_naming_the_variable_and_the_fix(monkeypatch, data_dir, capsys, command):
    monkeypatch.setenv("PLATFORM_ENGINE", "fast")
    assert main(command) == 1
    line = _one_line(capsys.readouterr().err)
    assert "PLATFORM_ENGINE='fast'" in line and "fix or unset" in line
    assert not data_dir.exists()


def test_an_unwritable_out_folder_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    argv = ["generate-logs", "--out", str(blocker / "logs"), "--start-date", "2026-11-20"]
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"cannot write to --out {blocker / 'logs'}" in line and "choose a folder" in line


@pytest.mark.parametrize("command", [["models", "list"], ["register-files"]])
def test_a_missing_data_directory_fails(data_dir, capsys, command):
    assert main(command) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"no data directory at {data_dir}" in line and "PLATFORM_DATA_DIR" in line
    assert not data_dir.exists()


def _models(data_dir: Path) -> None:
    shutil.copytree(LEGACY_MODELS, data_dir / "models")


def test_promoting_the_champion_is_refused_and_records_nothing(data_dir, capsys):
    _models(data_dir)
    before = (data_dir / "models" / "registry.json").read_text()
    assert main(["models", "promote", "v0002", "--reason", "again"]) == 1
    assert "v0002 is already the champion" in _one_line(capsys.readouterr().err)
    assert (data_dir / "models" / "registry.json").read_text() == before


def test_models_list_aligns_its_columns(data_dir, capsys):
    _models(data_dir)
    assert main(["models", "list", "--decisions"]) == 0
    out = capsys.readouterr().out
    versions, decisions = out.split("\n\n")
    for table in (versions, decisions):
        header, *rows = table.strip("\n").splitlines()
        starts = [m.start() for m in re.finditer(r"\S+", header)]
        assert rows
        for row in rows:  # each column starts under its header, two spaces after the one before
            for start in (start for start in starts[1:] if start < len(row)):
                assert row[start - 2 : start] == "  ", (row, start)
                assert row[start - 1 :].split()[0] == row[start:].split()[0], (row, start)
    assert versions.splitlines()[0].split() == [
        "version",
        "champion",
        "accepted",
        "family",
        "roc_auc",
        "log_loss",
        "trained_on",
        "decision",
    ]
    champion = next(row for row in versions.splitlines() if row.startswith("v0002"))
    assert champion[versions.splitlines()[0].index("champion")] == "*"


def _subparsers(parser):
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_help_shows_every_default():
    for parser in _subparsers(build_parser()):
        text = re.sub(r"\s+", " ", parser.format_help())
        for action in parser._actions:
            if action.option_strings and action.default not in (None, "==SUPPRESS==") and action.help:
                assert f"(default: {action.default})" in text, (parser.prog, action.dest)


def test_a_bad_number_says_whole_number(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate-logs", "--out", str(tmp_path), "--start-date", "2026-11-20", "--days", "many"])
    err = capsys.readouterr().err
    assert "expected a whole number, got 'many'" in err and "a int" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert re.fullmatch(r"platform-assets \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
