"""`opstwin viz`: the page served on 127.0.0.1, driven by Debian's chromium through Playwright (never a
browser download): it loads offline, shows every service, steps, and a faulty service changes colour.
Also the command's bad input: an unknown scenario, a busy port (one line, exit 2)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from viz_helpers import small_scenario

OPSTWIN = str(Path(sys.executable).with_name("opstwin"))
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def test_an_unknown_scenario_is_one_line_and_exit_2(cli):
    result = cli("viz", "no-such-scenario")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no-such-scenario" in result.output


def test_a_busy_port_is_one_line_and_exit_2(cli):
    pytest.importorskip("solara")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = cli("viz", "storm", "--port", port)
    assert result.exit_code == 2
    assert result.output == (f"opstwin: --port {port}: 127.0.0.1:{port} is in use (Address already in use); "
                             f"pick another, or --port 0 for any free one\n")


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


@pytest.fixture
def served(tmp_path):
    """`opstwin viz` on the small scenario on a free port: (url, process); stopped after the test."""
    pytest.importorskip("solara")
    proc = subprocess.Popen([OPSTWIN, "viz", str(small_scenario(tmp_path)), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = _first_line(proc, 120)
        url = re.fullmatch(r"opstwin viz: (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops it\)\n", line)
        assert url, f"no URL line: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield url.group(1), proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # never leave a server behind
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_the_page_shows_every_service_and_a_fault_changes_its_colour(served, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}: Debian's chromium is needed (.ci/run sets it up)")
    from opstwin.viz.svg import COLOURS

    url, proc = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("circle.svc", timeout=60_000)
        names = page.locator("circle.svc").evaluate_all("cs => cs.map(c => c.dataset.name)")
        assert names == ["web", "api", "db"]  # every service, by layer
        assert page.locator("rect.host").count() == 2
        api = "circle.svc[data-name=api]"
        assert page.get_attribute(api, "fill") == COLOURS["healthy"]
        step = page.get_by_role("button", name="Step")
        for tick in range(1, 6):  # the fault comes at 30 s: the tick ending at 40 s shows it
            step.click()
            page.wait_for_function(f"(document.querySelector('#stat-tick') || {{}}).innerText === '{tick}'",
                                   timeout=30_000)
        assert page.get_attribute(api, "fill") == COLOURS["faulty"]
        assert page.get_attribute(api, "data-state") == "faulty"
        assert page.locator("circle.fault-marker[data-name=api]").count() == 1
        assert page.locator("ol.timeline li[data-kind=fault]").count() == 1
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert proc.poll() is None  # still serving
