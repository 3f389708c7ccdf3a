"""Safe defaults (docs/SECURITY.md): no secret in the repository, every documented server command
binds 127.0.0.1 (explicitly, or through a default checked here)."""

import re
import subprocess

from platform_assets_tests.faults import support

# Obvious credentials: key material, cloud and forge tokens, passwords written as literals.
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "password literal": re.compile(
        r"""(?i)\b(?:password|passwd|secret|api_key|token)\b["']?\s*[:=]\s*["'][^"'\s$<{]{6,}["']"""
    ),
    # user:password@ is the documented placeholder
    "credentials in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://(?!user:password@)[^/\s:@'\"]+:[^/\s:@'\"$<{]{3,}@"
    ),
}
ANY_ADDRESS = re.compile(r"(?<![\d.])0\.0\.0\.0(?![\d.])")
SERVER_COMMAND = re.compile(
    r"(dagster dev|dagster-webserver|dagster api grpc|dagster code-server|reports serve"
    r"|platform-assets serve)[^\n`]*"
)


def _repository_files() -> list[str]:
    """Tracked files and new files not ignored: what a commit would publish."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=support.REPO,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name.decode() for name in listing.split(b"\0") if name})


def test_no_secret_in_the_repository():
    found = []
    for name in _repository_files():
        if name == "platform_assets_tests/faults/test_safe_defaults.py":  # the planted examples
            continue
        path = support.REPO / name
        if not path.is_file() or path.stat().st_size > 5 << 20:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        for kind, pattern in SECRET_PATTERNS.items():
            found += [f"{name}: {kind}: {m.group(0)[:60]}" for m in pattern.finditer(text)]
    assert found == []


def test_the_patterns_find_what_they_are_for():
    """The scan above is only as good as its patterns: each must flag a planted example."""
    planted = {
        "private key": "-----BEGIN RSA PRIVATE KEY-----",
        "AWS access key": "key = AKIAIOSFODNN7EXAMPLE",
        "GitHub token": "ghp_" + "a" * 36,
        "Slack token": "xoxb-1234567890-abcdef",
        "Google API key": "AIza" + "b" * 35,
        "password literal": 'password: "hunter2hunter2"',
        "credentials in a URL": "postgresql://dagster:s3cr3t@db:5432/x",
    }
    for kind, example in planted.items():
        assert SECRET_PATTERNS[kind].search(example), kind
    assert not SECRET_PATTERNS["password literal"].search("password:\n  env: DAGSTER_PG_PASSWORD")


def test_every_documented_server_command_binds_localhost():
    """Documented ``dagster dev`` / webserver commands either pass ``-h 127.0.0.1`` or rely on the
    webserver's default, which must be 127.0.0.1; no document binds 0.0.0.0."""
    docs = [
        p for p in _repository_files() if p.endswith((".md", ".sh", ".yaml", ".py")) or p.startswith(".ci/")
    ]
    commands = []
    for name in docs:
        text = (support.REPO / name).read_text("utf-8", "replace")
        assert not ANY_ADDRESS.search(text), name
        commands += [(name, m.group(0)) for m in SERVER_COMMAND.finditer(text)]
    assert commands  # the README documents how to start the UI
    for name, command in commands:
        host = re.search(r"(?:-h|--host|--dagit-host)[ =](\S+)", command)
        assert host is None or host.group(1) in ("127.0.0.1", "localhost"), (name, command)
    helptext = subprocess.run(
        [str(support.BIN / "dagster-webserver"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"-h, --host TEXT\s+Host to run server on\s+\[default: 127\.0\.0\.1\]", helptext)


def test_no_code_path_unpickles():
    """Models load through skops with a pinned trust list (``lib/ml/model_store.py``); nothing in the
    package imports pickle or a pickle-based loader, or trusts every type."""
    unsafe = re.compile(
        r"^\s*(?:import|from)\s+(?:pickle|cPickle|_pickle|cloudpickle|dill|joblib)\b|"
        r"\b(?:pickle|joblib|cloudpickle|dill)\.loads?\(|trusted\s*=\s*True|pd\.read_pickle|allow_pickle\s*=\s*True",
        re.M,
    )
    found = [
        f"{path.relative_to(support.REPO)}: {m.group(0).strip()}"
        for path in sorted((support.REPO / "platform_assets").rglob("*.py"))
        for m in unsafe.finditer(path.read_text("utf-8"))
    ]
    assert found == []
    assert unsafe.search("import joblib") and unsafe.search("sio.loads(data, trusted=True)")
