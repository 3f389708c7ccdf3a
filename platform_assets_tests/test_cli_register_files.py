"""``platform-assets register-files``: landed files become log_files partitions; unsafe keys do not."""

import os

import dagster as dg

from platform_assets.cli.commands import main


def _env(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "data"))
    landing = tmp_path / "data" / "landing"
    (landing / "web one").mkdir(parents=True)
    (landing / "web one" / "a b.log").write_text("x\n")
    (landing / "b.jsonl").write_text("{}\n")
    return home


def test_every_landed_file_is_registered_and_printed(monkeypatch, tmp_path, capsys):
    home = _env(monkeypatch, tmp_path)
    assert main(["register-files"]) == 0
    assert capsys.readouterr().out.splitlines() == ["b.jsonl", "web one/a b.log"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("log_files")) == ["b.jsonl", "web one/a b.log"]


def test_a_key_outside_the_landing_folder_is_refused(monkeypatch, tmp_path, capsys):
    home = _env(monkeypatch, tmp_path)
    (tmp_path / "data" / "secret").write_text("no\n")
    assert main(["register-files", "../secret"]) == 1
    assert "refused" in capsys.readouterr().err
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions("log_files") == []


def test_a_name_that_is_not_utf8_is_skipped_and_the_others_registered(monkeypatch, tmp_path, capsys):
    home = _env(monkeypatch, tmp_path)
    landing = tmp_path / "data" / "landing"
    (landing / os.fsdecode(b"bad-\xff.log")).write_text("x\n")  # the byte 0xff: not UTF-8
    assert main(["register-files"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["b.jsonl", "web one/a b.log"]
    assert captured.err.splitlines() == ["skipped 'bad-\\udcff.log': file name is not valid UTF-8"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("log_files")) == ["b.jsonl", "web one/a b.log"]
