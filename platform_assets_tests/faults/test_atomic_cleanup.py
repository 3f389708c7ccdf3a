"""``lib/atomic.py``: what a dead writer left is removed by the next write; a live writer's files
are never touched (its ``flock`` says it is alive, even in another process)."""

import subprocess
import sys

from platform_assets.lib.atomic import atomic_write_bytes, staging_dir


def test_a_dead_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "registry.json"
    (tmp_path / ".registry.json.dead1.tmp").write_bytes(b'{"half": ')  # nobody holds it
    (tmp_path / ".other.json.dead2.tmp").write_bytes(b"x")  # another target's: not ours to judge
    atomic_write_bytes(target, b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.dead2.tmp", "registry.json"]
    assert target.read_bytes() == b"{}"


def test_a_live_writers_staging_folder_survives_another_writers_cleanup(tmp_path):
    """A second process holds a staging folder open; a writer here cleans up around it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from platform_assets.lib.atomic import staging_dir\n"
            f"with staging_dir(pathlib.Path({str(tmp_path)!r}), 'ingest') as s:\n"
            "    (s / 'part.parquet').write_bytes(b'x'); print(s.name, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    live = holder.stdout.readline().strip()
    (tmp_path / ".ingest-dead").mkdir()  # left by a killed ingest
    with staging_dir(tmp_path, "ingest") as mine:
        names = {p.name for p in tmp_path.iterdir()}
        assert names == {live, mine.name}  # the dead one went, the live one stayed
        assert (tmp_path / live / "part.parquet").exists()
    holder.communicate("", timeout=30)
    assert holder.returncode == 0
    assert list(tmp_path.iterdir()) == []  # each writer removed its own
