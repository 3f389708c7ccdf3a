"""``platform-assets reports serve``: the monitoring reports and their index over HTTP, read-only.

Dagster's UI shows each report's address (the ``report`` metadata, under PLATFORM_REPORTS_URL) as
a link; this server answers it. It serves only ``.html`` and ``.json`` files under the reports
folder, never through a symlink, a hidden name or ``..``; it answers GET and HEAD only, and renders
``/`` (and ``/index.html``) from the folder on each request, so the index is never stale. Bound to
loopback (the default), it answers only requests addressed to a loopback name or to the host of
PLATFORM_REPORTS_URL, so a web page elsewhere cannot read the reports by rebinding its DNS name.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import unquote, urlsplit

from platform_assets.lib.report_index import render_index

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json"}
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class Refused(Exception):
    """A request for something the server does not serve; ``status`` is the answer."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


def report_file(root: Path, url_path: str) -> Path:
    """The file under ``root`` that ``url_path`` names, or :class:`Refused` (404 for a name that
    is not a report's, 403 for a path through a symlink)."""
    try:
        text = unquote(url_path, errors="strict")
    except UnicodeDecodeError:
        raise Refused(HTTPStatus.NOT_FOUND) from None
    parts = text.split("/")[1:]
    if (
        not text.startswith("/")
        or not parts
        or any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts)
        or Path(parts[-1]).suffix not in CONTENT_TYPES
    ):
        raise Refused(HTTPStatus.NOT_FOUND)
    path = root
    for part in parts:
        path = path / part
        try:
            mode = path.lstat().st_mode
        except OSError:
            raise Refused(HTTPStatus.NOT_FOUND) from None
        if stat.S_ISLNK(mode):
            raise Refused(HTTPStatus.FORBIDDEN)
    if not stat.S_ISREG(mode):
        raise Refused(HTTPStatus.NOT_FOUND)
    return path


class ReportsServer(ThreadingHTTPServer):
    """Serves one reports folder; ``allowed_hosts`` (None: any) are the names requests may address."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path, allowed_hosts: frozenset[str] | None) -> None:
        self.root = Path(root).resolve()
        self.allowed_hosts = allowed_hosts
        super().__init__(address, ReportsHandler)

    def host_allowed(self, host_header: str) -> bool:
        if self.allowed_hosts is None:
            return True
        name = urlsplit(f"//{host_header}").hostname if host_header else None
        return name is not None and name.lower() in self.allowed_hosts


class _ReportsServerV6(ReportsServer):
    address_family = socket.AF_INET6


class ReportsHandler(BaseHTTPRequestHandler):
    """GET and HEAD of the index and the report files (any other method: 501, from the base class)."""

    server: ReportsServer
    server_version = "platform-assets-reports"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        if not self.server.host_allowed(self.headers.get("Host", "")):
            return self._send(HTTPStatus.FORBIDDEN, b"unknown host\n", "text/plain; charset=utf-8", send_body)
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            page = render_index(self.server.root).encode("utf-8")
            return self._send(HTTPStatus.OK, page, CONTENT_TYPES[".html"], send_body)
        try:
            file = report_file(self.server.root, path)
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                body = handle.read()
        except Refused as refused:
            return self._send(refused.status, f"{refused.status.phrase}\n".encode(), "text/plain", send_body)
        except OSError:  # replaced by a symlink, or gone, since it was checked
            return self._send(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain", send_body)
        self._send(HTTPStatus.OK, body, CONTENT_TYPES[file.suffix], send_body)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def make_server(root: Path, host: str, port: int, public_url: str) -> ReportsServer:
    """A server of ``root`` bound to ``host:port`` (port 0: any free one); not started."""
    allowed = None
    if _is_loopback(host):
        public_host = urlsplit(public_url).hostname
        allowed = LOOPBACK_NAMES | ({public_host.lower()} if public_host else set())
    server_class = _ReportsServerV6 if ":" in host else ReportsServer
    return server_class((host, port), root, allowed)


def default_port(public_url: str, fallback: int = 3001) -> int:
    """The port of PLATFORM_REPORTS_URL when it names one, so the UI's links reach this server."""
    return urlsplit(public_url).port or fallback


def serve(root: Path, host: str, port: int, public_url: str) -> None:
    """Serve until interrupted (Ctrl-C), saying where."""
    server = make_server(root, host, port, public_url)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    print(f"serving the reports of {root} at http://{shown}:{bound_port}/ (Ctrl-C stops)", flush=True)
    if default_port(public_url) != bound_port:
        print(
            f"note: the UI links to {public_url}; set PLATFORM_REPORTS_URL to this address for them "
            "to reach this server",
            file=sys.stderr,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
