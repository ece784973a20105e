"""Start the page: ``solara run viz/app.py`` on 127.0.0.1, offline, and say where it is.

What ``opstwin viz`` calls. The server runs as a child process with the settings that keep it
offline and quiet (``--production --no-check-version``, ``SOLARA_TELEMETRY_MIXPANEL_ENABLE=False``;
Solara's JavaScript comes from the ``solara-assets`` package in the environment, not a CDN). It
imports neither mesa nor solara itself, so a missing ``viz`` extra is one clear line, not a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

APP = Path(__file__).with_name("app.py")
HOST = "127.0.0.1"
NEEDED = ("mesa", "solara", "matplotlib")
START_TIMEOUT = 90.0  # seconds for the server to listen (about 3 s on an idle 2-core machine)


class ServeError(Exception):
    """The page cannot be served (a missing extra, a busy port, a server that died): one line."""


def check_installed() -> None:
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        raise ServeError(f"the page needs {', '.join(missing)}: install the viz extra "
                         f"(pip install -e \".[viz]\")")


def pick_port(port: int) -> int:
    """`port` if nothing listens on it on 127.0.0.1 (0: any free port), else ServeError."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: only a listener blocks it
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise ServeError(f"--port {port}: {HOST}:{port} is in use ({exc.strerror}); pick another, "
                             f"or --port 0 for any free one") from None
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _last_line(log) -> str:
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(scenario: Path, seed: int | None, port: int, say: Callable[[str], None]) -> None:
    """Serve the page for `scenario` (and `seed`) until Ctrl-C (KeyboardInterrupt, after stopping the
    server) or the server exits; `say(url line)` once it answers. Bad setups raise ServeError."""
    check_installed()
    port = pick_port(port)
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "OPSTWIN_VIZ_SCENARIO": str(scenario),
           "PYTHONWARNINGS": "ignore"}  # Mesa's own components trip solara's hook checks: noise for a user
    if seed is not None:
        env["OPSTWIN_VIZ_SEED"] = str(seed)
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", HOST, "--port", str(port),
           "--production", "--no-check-version"]
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main else None  # SIGTERM stops it as Ctrl-C does
    try:
        _run(cmd, env, port, say)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _run(cmd: list[str], env: dict[str, str], port: int, say: Callable[[str], None]) -> None:
    """Start the server, say its URL once it answers, wait for it; stop it on the way out."""
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_TIMEOUT  # clock-ok: a start-up timeout, not a decision of the run
            while not _listening(port):
                if child.poll() is not None:
                    raise ServeError(f"the page's server exited ({child.returncode}): {_last_line(log)}")
                if time.monotonic() > deadline:  # clock-ok
                    raise ServeError(f"the page's server did not listen on {HOST}:{port} within {START_TIMEOUT:.0f} s")
                time.sleep(0.1)
            say(f"opstwin viz: http://{HOST}:{port}/ (Ctrl-C stops it)")
            code = child.wait()
            if code != 0:
                raise ServeError(f"the page's server exited ({code}): {_last_line(log)}")
        finally:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(5)
                except subprocess.TimeoutExpired:  # uvicorn waits for open browser tabs: do not
                    child.kill()
                    child.wait()
