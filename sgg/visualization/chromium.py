"""Drive a headless Chromium over the DevTools protocol (for screenshots of the viewer and its tests).

No extra package is needed: Chromium is started with ``--remote-debugging-pipe`` and the
protocol's JSON messages travel over two pipes (file descriptors 3 and 4 of the child, each
message ending with a NUL byte). The browser runs with a new, empty profile and without network
services; it is closed (and killed if it does not exit) when the session ends.

    with ChromiumSession() as browser:
        page = browser.open("file:///path/to/viewer/index.html", width=1400, height=900)
        page.wait_for("document.body.dataset.ready === '1'")
        print(page.evaluate("document.querySelectorAll('.card').length"))
        page.screenshot("viewer.png")
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from sgg.export.atomic import atomic_output

__all__ = ["CHROMIUM_FLAGS", "ChromiumError", "ChromiumPage", "ChromiumSession", "find_chromium"]

#: flags that let Chromium run headless as root in a container without GPU or network
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
)
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class ChromiumError(RuntimeError):
    """Chromium is missing, did not start, or a protocol command failed."""


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable: ``$SGG_CHROMIUM``, else the first of the usual names on PATH."""
    explicit = os.environ.get("SGG_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class ChromiumSession:
    """One headless browser process (a context manager)."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise ChromiumError(
                "no Chromium found (looked for $SGG_CHROMIUM and " + ", ".join(_NAMES) + " on PATH); "
                "on Debian/Ubuntu: apt-get install chromium"
            )
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="sgg-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the protocol pipes must be fds 3 (browser reads) and 4 (browser writes) in the child; copies
        # above 10 first, so that the two dup2 actions cannot overwrite each other
        high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_child_r, from_child_w):
            os.close(fd)
        argv = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe",
                "about:blank"]
        try:  # posix_spawn: no Python code runs between fork and exec (safe with threads)
            self._pid: int | None = os.posix_spawn(self.executable, argv, os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, high_r, 3),
                (os.POSIX_SPAWN_DUP2, high_w, 4),
            ])
        except OSError as e:
            os.close(self._to_child)
            os.close(self._from_child)
            shutil.rmtree(self._profile, ignore_errors=True)
            raise ChromiumError(f"cannot start {self.executable}: {e}") from e
        finally:
            os.close(high_r)
            os.close(high_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            self.version = self.send("Browser.getVersion")["product"]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ChromiumSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(f"no answer from Chromium within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise ChromiumError("Chromium closed the DevTools pipe (it exited or crashed)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session_id: str | None = None) -> dict:
        """Send one protocol command and return its ``result``; ``ChromiumError`` on a protocol error."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ChromiumError(f"{method}: {answer['error'].get('message', answer['error'])}")
                return answer.get("result", {})
            self.events.append(answer)
            del self.events[:-200]  # events are not needed beyond debugging; keep the last few

    def open(self, url: str, width: int = 1400, height: int = 900) -> ChromiumPage:
        """A new tab of ``width`` x ``height`` CSS pixels showing ``url``."""
        target = self.send("Target.createTarget", {"url": "about:blank"})
        session = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        page = ChromiumPage(self, session)
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        page.wait_for("document.readyState === 'complete'")
        return page

    def close(self) -> None:
        """Ask the browser to quit, kill it if it does not, remove its profile."""
        if getattr(self, "_pid", None) is not None:
            try:
                self.send("Browser.close")
            except (ChromiumError, OSError):
                pass
            deadline = time.monotonic() + 10
            while os.waitpid(self._pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(self._pid, signal.SIGKILL)
                    os.waitpid(self._pid, 0)
                    break
                time.sleep(0.05)
            self._pid = None
        for fd in ("_to_child", "_from_child"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)
        shutil.rmtree(self._profile, ignore_errors=True)


class ChromiumPage:
    """One tab of a :class:`ChromiumSession`."""

    def __init__(self, browser: ChromiumSession, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session_id)

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression (JSON-serialisable values only); JS exceptions raise."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise ChromiumError(f"JavaScript error in {expression[:80]!r}: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
        """Poll until ``expression`` is truthy; returns its value, ``ChromiumError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise ChromiumError(f"timed out after {timeout:.0f} s waiting for {expression!r}")
            time.sleep(interval)

    def mouse_move(self, x: float, y: float) -> None:
        """Move the mouse to viewport coordinates (fires mouseenter / mouseleave like a user)."""
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, path: str | os.PathLike, full_page: bool = False, overwrite: bool = False) -> Path:
        """Save a PNG of the viewport (or of the whole page with ``full_page``), atomically."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        with atomic_output(path, overwrite=overwrite, binary=True) as handle:
            handle.write(data)
        return Path(path)
