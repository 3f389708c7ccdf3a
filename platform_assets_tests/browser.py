"""A real browser for the UI tests: Debian's Chromium driven by Playwright, nothing downloaded.

CI (``.ci/run``) installs Debian's ``chromium`` and sets ``PLATFORM_TEST_CHROMIUM`` to it: then a
missing browser fails the test. Elsewhere the test uses ``/usr/bin/chromium`` when present and is
skipped, saying how to get one, when not. Screenshots go to ``PLATFORM_TEST_ARTIFACTS`` (CI keeps
them) or to the test's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
# Headless, as root in a container, on a machine with no network but loopback: without the
# background-networking flags Chromium keeps trying (and failing) to reach Google's services.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}


def chromium_path() -> Path:
    """The browser to drive: ``PLATFORM_TEST_CHROMIUM`` (required to exist), else Debian's, else skip."""
    required = os.environ.get("PLATFORM_TEST_CHROMIUM")
    if required:
        path = Path(required)
        assert path.is_file(), f"PLATFORM_TEST_CHROMIUM={required} is not a file"
        return path
    if not DEBIAN_CHROMIUM.is_file():
        pytest.skip("no Chromium: install Debian's chromium package or set PLATFORM_TEST_CHROMIUM")
    return DEBIAN_CHROMIUM


def artifacts_dir(default: Path) -> Path:
    """Where screenshots go: ``PLATFORM_TEST_ARTIFACTS`` when set (created), else ``default``."""
    folder = Path(os.environ.get("PLATFORM_TEST_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Browser:
    """One browser context on the Dagster UI at ``base_url``, saving screenshots to ``artifacts``."""

    context: object  # playwright BrowserContext
    base_url: str
    artifacts: Path

    def open(self, path: str, height: int | None = None):
        """A new tab on ``base_url + path`` (or on ``path`` when it is a whole address), loaded, with
        Dagster's first-visit invitation closed; ``height`` makes the window taller than usual."""
        page = self.context.new_page()
        if height:
            page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.goto(path if path.startswith("http") else self.base_url + path)
        page.wait_for_load_state("networkidle")
        dismiss_first_visit_dialog(page)
        return page

    def screenshot(self, page, name: str, full_page: bool = False) -> Path:
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


def dismiss_first_visit_dialog(page) -> None:
    """Dagster's UI opens a "Join the Dagster community" dialog on a first visit; a user skips it."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()


@contextmanager
def browser(base_url: str, artifacts: Path) -> Iterator[Browser]:
    """Headless Chromium on ``base_url``; every page waits at most 60 s for what a test expects."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_FLAGS)
        try:
            context = chromium.new_context(viewport=VIEWPORT)
            context.set_default_timeout(60_000)
            yield Browser(context=context, base_url=base_url, artifacts=artifacts)
        finally:
            chromium.close()
