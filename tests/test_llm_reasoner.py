"""The LLM reasoner through the real `ollama` client and a real HTTP server on loopback (tests/ollama_server.py)
answering crafted texts: a checked answer becomes the diagnosis, a failing one falls back to rules with
its reason in the log; a server that is down or lacks the model stops the run at start (exit 2, one line
naming host and model) unless `fallback: rules`."""

from __future__ import annotations

import json
import socket

import pytest

from opstwin.agents.llm.reasoner import LlmReasoner, ReasonerUnavailable
from opstwin.agents.spec import ReasonerSpec
from opstwin.twin.topology import Topology
from ollama_server import OllamaTestServer, Scripted
from test_llm_checks import ALERTS, answer

MODEL = "tiny:test"
DIGEST = "sha256:" + "ab" * 32


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reasoner(topo, url, **kw) -> LlmReasoner:
    return LlmReasoner(topo, ReasonerSpec(backend="ollama", model=MODEL, host=url, **kw)).start()


@pytest.fixture
def topo(small_topology):
    return Topology.build(small_topology)


def test_a_checked_answer_is_the_diagnosis(topo):
    with OllamaTestServer(Scripted(answer()), {MODEL: DIGEST}) as srv:
        r = reasoner(topo, srv.url, seed=7, num_ctx=2048)
        [group] = r.localize(ALERTS)
        events, seconds = r.take()
    top = group.candidates[0]
    assert (top.component, top.fault, top.actions[0][0]) == ("db", "memory_leak", "rollback_deployment")
    assert group.reasoner == f"ollama:{MODEL}" and group.evidence[0].startswith("e1: api")
    assert r.digest == DIGEST and seconds == 5.0
    [(kind, call)] = events
    assert kind == "llm_call" and call["check"] == "passed" and call["answer"] == answer()
    assert "Evidence (id: fact):" in call["prompt"] and call["prompt_tokens"] > 0
    chat = next(body for path, body in srv.requests if path == "/api/chat")  # what the client sent
    assert chat["format"]["required"] == ["root_causes", "evidence", "fix", "explanation"]
    fixes = {f["properties"]["component"]["const"]: f["properties"]["action"]["enum"]
             for f in chat["format"]["properties"]["fix"]["anyOf"]}  # the structured output, narrowed to the case
    assert sorted(fixes) == ["api", "d2", "db", "h2"] and fixes["h2"] == ["reboot_host", "migrate_noisy_neighbour",
                                                                          "reset_network"]
    assert chat["options"] == {"temperature": 0.0, "seed": 7, "num_ctx": 2048, "num_predict": 300}


@pytest.mark.parametrize("bad, reason", [
    (answer(root_causes=[{"component": "payments", "fault": "memory_leak", "confidence": 0.9}]),
     "rejected: root cause 'payments' is not a candidate"),
    (answer(evidence=["e404"]), "rejected: evidence id 'e404' does not exist"),
    (answer(fix={"action": "reboot_host", "component": "db"}), "rejected: fix reboot_host on db is not allowed"),
    ("db. definitely db.", "rejected: not JSON"),
])
def test_a_failing_answer_falls_back_to_rules_and_says_why(topo, bad, reason):
    with OllamaTestServer(Scripted(bad), {MODEL: DIGEST}) as srv:
        r = reasoner(topo, srv.url)
        [group] = r.localize(ALERTS)
        events, _ = r.take()
    rules = r.rules.localize(ALERTS)[0]
    assert group.reasoner == "rules" and group.candidates == rules.candidates
    (k1, call), (k2, fallback) = events
    assert (k1, k2) == ("llm_call", "llm_fallback")
    assert call["check"].startswith(reason) and fallback["reason"].startswith(reason), (call, fallback)
    assert fallback == {"call": 1, "reason": fallback["reason"], "root": "db"}


def test_the_call_budget_is_kept(topo):
    with OllamaTestServer(Scripted(answer()), {MODEL: DIGEST}) as srv:
        r = reasoner(topo, srv.url, max_calls=1)
        r.localize(ALERTS)
        [group] = r.localize(ALERTS)
        events, seconds = r.take()
    assert [k for k, _ in events] == ["llm_call", "llm_fallback"] and seconds == 5.0
    assert events[1][1]["reason"] == "call budget of the run spent (1)" and group.reasoner == "rules"


def test_latency_measured_charges_the_wall_time_of_the_call(topo):
    with OllamaTestServer(Scripted(answer(), delay=0.5), {MODEL: DIGEST}) as srv:
        r = reasoner(topo, srv.url, latency="measured")
        r.localize(ALERTS)
        [(_, call)], seconds = r.take()
    assert 0.5 <= seconds < 5 and call["latency_s"] == seconds == round(seconds, 1)


def test_a_closed_port_or_a_missing_model_is_one_line_naming_host_and_model(topo):
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ReasonerUnavailable, match=f"cannot reach the ollama server at {url}, model {MODEL}"):
        reasoner(topo, url)
    with OllamaTestServer(Scripted(answer()), {"other:1b": DIGEST}) as srv:
        with pytest.raises(ReasonerUnavailable, match=f"at {srv.url}, model {MODEL}.*does not have that model"):
            reasoner(topo, srv.url)
    r = reasoner(topo, url, fallback="rules")  # with a fallback: rules for every incident, said why
    [group] = r.localize(ALERTS)
    assert group.reasoner == "rules" and r.status.startswith("unavailable, using rules: cannot reach")
    assert r.take()[0] == [("llm_fallback", {"call": None, "reason": "the model server was unavailable at start",
                                             "root": "db"})]


def test_the_openai_backend_names_host_and_model_too(topo):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    spec = ReasonerSpec(backend="openai", model="gemma", host=url)
    with pytest.raises(ReasonerUnavailable, match=f"cannot reach the OpenAI-compatible server at {url}, model gemma"):
        LlmReasoner(topo, spec).start()


STORAGE_LLM = """
agents:
  diagnoser:
    reasoner: {{backend: ollama, model: "{model}", host: "{host}"{extra}}}
"""


def scenario_with(cli, host: str, extra: str = "", whole: bool = False) -> str:
    """The library's storage scenario with an ollama reasoner: whole (a spool disk filling up, then a data disk
    failing), or its first 3 hours (the spool disk only)."""
    from opstwin.scenarios.library import resolve

    text = resolve("storage").read_text()
    if not whole:
        text = text.replace("duration: 7h", "duration: 3h")
        text = "\n".join(line for line in text.splitlines() if "type: disk_failure" not in line) + "\n"
    cli.write("storage-llm.yaml", text + STORAGE_LLM.format(model=MODEL, host=host, extra=extra))
    return "storage-llm.yaml"


def test_opstwin_run_exits_2_at_start_when_the_server_is_down(cli):
    host = f"http://127.0.0.1:{closed_port()}"
    res = cli("run", scenario_with(cli, host), "--quiet", "--out", "out")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"opstwin: diagnoser reasoner: cannot reach the ollama server at {host}, model {MODEL}: "
        + res.output.split(f"model {MODEL}: ", 1)[1].strip()]
    assert not (cli.folder / "out").exists()  # nothing started, nothing written


@pytest.mark.slow
def test_with_fallback_rules_a_down_server_is_a_warning_and_the_run_goes_on(cli):
    host = f"http://127.0.0.1:{closed_port()}"
    res = cli("run", scenario_with(cli, host, ", fallback: rules"), "--quiet", "--out", "out")
    assert res.exit_code == 0, res.output
    assert f"opstwin: warning: diagnoser reasoner: cannot reach the ollama server at {host}, model {MODEL}" in res.output
    events = [json.loads(line) for line in (cli.folder / "out" / "incidents.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["kind"] == "llm_reasoner")
    assert start["status"].startswith("unavailable, using rules") and start["model"] == MODEL
    summary = json.loads((cli.folder / "out" / "summary.json").read_text())
    m = summary["metrics"]
    assert m["llm_calls"] == 0 and m["llm_fallbacks"] >= 1 and m["rca_ac1"] is not None


@pytest.mark.slow
def test_a_library_scenario_runs_with_checked_answers_charged_in_sim_time(cli):
    """The spool disk fills up, then a data disk fails: the crafted model answers a fix not allowed first
    (rejected, rules act), then right; the log shows prompts, answers, checks and the fallback; the same run
    twice is the same log."""
    good = json.dumps({"root_causes": [{"component": "query-1-data", "fault": "disk_failure", "confidence": 0.9}],
                       "evidence": ["e1"], "fix": {"action": "replace_disk", "component": "query-1-data"},
                       "explanation": "the data disk fails"})
    bad = json.dumps({"root_causes": [{"component": "ingest-1-spool", "fault": "disk_fill", "confidence": 0.9}],
                      "evidence": ["e1"], "fix": {"action": "replace_disk", "component": "ingest-1-spool"},
                      "explanation": "replace it"})
    logs = []
    for out in ("a", "b"):
        with OllamaTestServer(Scripted(bad, good), {MODEL: DIGEST}) as srv:
            res = cli("run", scenario_with(cli, srv.url, whole=True), "--quiet", "--out", out)
            assert res.exit_code == 0, res.output
        logs.append((cli.folder / out / "incidents.jsonl").read_text())
    assert logs[0] == logs[1]
    events = [json.loads(line) for line in logs[0].splitlines()]
    calls = [e for e in events if e["kind"] == "llm_call"]
    assert calls[0]["check"].startswith("rejected: fix replace_disk on ingest-1-spool is not allowed")
    assert any(c["check"] == "passed" for c in calls)
    fallback = next(e for e in events if e["kind"] == "llm_fallback")
    assert fallback["call"] == 1 and fallback["reason"].startswith("rejected:")
    diagnoses = [e for e in events if e["kind"] == "msg" and e["type"] == "diagnosis"]
    assert diagnoses[0]["body"]["reasoner"] == "rules"  # the rejected answer's incident
    assert any(d["body"]["reasoner"] == f"ollama:{MODEL}" for d in diagnoses)
    assert diagnoses[0]["t"] >= calls[0]["t"] + 5.0  # the call's 5 s of sim time were charged
    summary = json.loads((cli.folder / "a" / "summary.json").read_text())
    m = summary["metrics"]
    assert m["llm_calls"] == len(calls) and m["llm_rejections"] >= 1 and m["llm_fallbacks"] >= 1
    assert m["llm_latency_s"] == 5.0 * len(calls) and m["llm_tokens_prompt"] > 0
    assert summary["llm"]["digest"] == DIGEST and summary["llm"]["temperature"] == 0.0


@pytest.mark.slow
def test_a_slow_model_does_not_get_the_diagnoser_declared_lost_over_xmpp(cli, tmp_path, no_leftovers):
    """Each answer takes 3 wall seconds, the round deadline is 1 s: the diagnoser (in its own agents process)
    steps off its event loop and its rounds get the reasoner's allowance, so nobody is lost, and the log is the
    in-process run's, byte for byte (the call is charged in sim time, not wall time)."""
    from opstwin.engine.runner import run
    from opstwin.scenarios.loader import load

    logs = {}
    for transport in ("inproc", "spade"):
        with OllamaTestServer(Scripted(answer(), delay=3.0), {MODEL: DIGEST}) as srv:
            scenario = load(cli.folder / scenario_with(cli, srv.url))
            out = tmp_path / transport
            summary = run(scenario, agents=True, transport=transport, processes=2, out=out,
                          transport_options={"round_timeout": 1.0} if transport == "spade" else None)
        assert summary["metrics"]["llm_calls"] >= 1
        assert summary.get("agents_lost", []) == []
        logs[transport] = (out / "incidents.jsonl").read_text()
    assert logs["spade"] == logs["inproc"]


def test_opstwin_eval_exits_2_before_any_run_when_a_variant_s_server_is_down(cli):
    host = f"http://127.0.0.1:{closed_port()}/v1"
    variant = f'llm=agents.diagnoser.reasoner={{backend: openai, model: gemma, host: "{host}"}}'
    res = cli("eval", "storage", "--seeds", "1", "--quiet", "--out", "ev", "--variant", variant)
    assert res.exit_code == 2
    assert res.output.startswith(f"opstwin: diagnoser reasoner: cannot reach the OpenAI-compatible server at {host}, "
                                 "model gemma: ") and len(res.output.strip().splitlines()) == 1
    assert not (cli.folder / "ev" / "runs").exists()


def test_the_engine_raises_at_start_and_leaves_no_log_when_the_server_is_down(cli, tmp_path):
    from opstwin.engine.runner import run
    from opstwin.scenarios.loader import load

    scenario = load(cli.folder / scenario_with(cli, f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(ReasonerUnavailable, match=f"model {MODEL}"):
        run(scenario, agents=True, out=tmp_path / "run")
    assert not (tmp_path / "run" / "incidents.jsonl").exists()
