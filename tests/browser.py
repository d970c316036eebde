"""A headless Chromium driven over its DevTools protocol on a pipe: no websocket, no third-party package.

Chromium started with `--remote-debugging-pipe` reads protocol commands from its file descriptor 3
and writes replies and events to 4, each message JSON ended by a NUL byte. `Browser` opens a page,
loads a file, collects what the page logs (console errors, exceptions, CSP refusals), every request
it makes and any dialog it opens, evaluates expressions in it and takes screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["ARTIFACTS", "SAVED", "Browser", "BrowserError", "find_chromium"]

#: Where browser tests keep their screenshots (git-ignored).
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: Every screenshot saved in this run, listed at its end.
SAVED: list[Path] = []
#: Names Chromium is installed under (Debian's package: chromium).
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Flags for a quiet, offline, sandbox-free headless browser with a fresh profile.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
#: Seconds any one protocol command may take.
TIMEOUT = 60.0


class BrowserError(RuntimeError):
    """Chromium did not answer, or answered with an error."""


def find_chromium() -> str | None:
    """Return the path of a Chromium executable, or None; CONVPROF_CHROMIUM names one explicitly."""
    explicit = os.environ.get("CONVPROF_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page open (a context manager)."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="convprof-chromium-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # A small trampoline puts the two pipe ends at the descriptors Chromium reads and writes (3, 4).
        # (copied above 9 first, so that moving one into place never closes the other).
        trampoline = (
            "import fcntl, os, sys; "
            "ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]; "
            "os.dup2(ends[0], 3); os.dup2(ends[1], 4); os.execv(sys.argv[3], sys.argv[3:])"
        )
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                trampoline,
                str(commands_read),
                str(replies_write),
                executable,
                *_FLAGS,
                f"--user-data-dir={self._profile.name}",
            ],
            pass_fds=(commands_read, replies_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session: str | None = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=True)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=True,
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End Chromium and remove its profile."""
        if self._process.poll() is None:
            try:
                self._send({"id": -1, "method": "Browser.close"})
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed its pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> Any:
        """Send one command (to the page with `session`) and return its result; events on the way are
        kept in `events`."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._send(message)
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Return the first event `method` seen, waiting for it if it has not come yet."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            reply = self._receive(deadline)
            if "method" in reply:
                self.events.append(reply)

    def before_load(self, source: str) -> None:
        """Run `source` in every document before its own scripts."""
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": source}, session=True)

    def open(self, path: Path) -> float:
        """Load a local file and wait for its load event; return the seconds from navigating to it."""
        self.events.clear()
        start = time.monotonic()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")
        return time.monotonic() - start

    def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        """Return the value of a JavaScript expression in the page (awaited when `wait`)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": wait},
            session=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Return what the page reported as an error: console errors, uncaught exceptions, log entries
        of level error (a refused resource, a CSP violation), and dialogs it opened."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(
                    "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                found.append("exception: " + json.dumps(params["exceptionDetails"])[:300])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append("log: " + params["entry"]["text"])
            elif method == "Page.javascriptDialogOpening":
                found.append("dialog: " + params.get("message", ""))
        return found

    def requests(self) -> list[str]:
        """Return the URL of every request the page made since it was opened."""
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, *, full_page: bool = False, max_height: int = 16000) -> Path:
        """Save a PNG of the viewport (or of the whole page, up to `max_height` pixels) to `path`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            # Sections render as they scroll into view: all of them, for a picture of the whole page.
            self.evaluate(
                "document.querySelectorAll('section').forEach(function (s) { "
                "s.style.contentVisibility = 'visible'; })"
            )
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], max_height),
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        SAVED.append(path)
        return path


def main() -> None:
    """Save a screenshot of a page: `python -m tests.browser PAGE.html SHOT.png [WIDTH]`."""
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install chromium, or set CONVPROF_CHROMIUM")
    page, shot = Path(sys.argv[1]), Path(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
    with Browser(chromium, width=width) as browser:
        browser.open(page)
        if browser.errors():
            raise SystemExit(f"{page}: {browser.errors()}")
        print(browser.screenshot(shot, full_page=True))


if __name__ == "__main__":
    main()
