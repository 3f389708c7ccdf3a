"""Long commands show progress: a live bar with counts on a terminal, one line per stage otherwise."""

import io
import re

from platform_assets.cli.progress import StageProgress


def test_piped_output_is_one_line_per_stage_with_count_and_seconds():
    out = io.StringIO()
    progress = StageProgress(out)
    progress.say("starting")
    with progress.stage("ingest files", 3, "files") as stage:
        for _ in range(3):
            stage.advance()
    with progress.stage("train the model"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "starting"
    assert re.fullmatch(r"ingest files: 3/3 files in \d+\.\d s", lines[1])
    assert re.fullmatch(r"train the model: in \d+\.\d s", lines[2])
    assert len(lines) == 3


def test_a_terminal_shows_the_stage_its_count_and_elapsed_time():
    out = io.StringIO()
    progress = StageProgress(out, live=True)
    with progress.stage("build days", 4, "days") as stage:
        stage.advance(4)
    text = out.getvalue()
    assert "build days" in text and "4/4" in text and re.search(r"0:00:\d\d", text)
