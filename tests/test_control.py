"""The control plane: actions take sim time, may fail (seeded), are logged, and can be undone."""

import numpy as np
import pytest

from opstwin.twin.control import ACTIONS, ActionError, ActionPort, ControlPlane, TicketView
from opstwin.twin.spec import VersionChanges


@pytest.fixture
def cloud(make_twin, no_failures):
    twin = make_twin()
    twin.advance()  # t = 10
    return twin, ControlPlane(twin)


def finish(twin, ticket, limit=2000.0):
    while ticket.status in ("pending", "running"):
        assert twin.now < limit, "action never finished"
        twin.advance()
    return ticket


def kinds(twin, prefix="action_"):
    return [e["kind"] for e in twin.log.events if e["kind"].startswith(prefix)]


def test_every_documented_action_exists_with_a_duration_and_a_failure_probability():
    expected = {"restart_service", "rollback_deployment", "scale_service", "clean_disk", "expand_disk",
                "migrate_service", "failover", "rotate_certificate", "revert_config", "replace_disk",
                "reboot_host", "reset_network", "rate_limit"}
    assert expected <= set(ACTIONS)
    for kind in ACTIONS.values():
        assert kind.duration > 0 and 0 < kind.fail_probability < 1 and kind.summary
        assert kind.target in ("service", "disk", "host")


def test_an_action_changes_nothing_until_its_duration_has_elapsed(cloud):
    twin, control = cloud
    api = twin.topo.index("api")
    start = twin.now
    ticket = control.request("scale_service", "api", {"replicas": 5})
    duration = ACTIONS["scale_service"].duration
    while twin.now < start + duration:
        twin.advance()
        assert twin.replicas[api] == 2 and ticket.status in ("pending", "running")
    finish(twin, ticket)
    assert ticket.status == "succeeded" and ticket.finished_at == pytest.approx(start + duration)
    assert twin.replicas[api] == 5


def test_an_action_is_logged_when_started_finished_and_undone(cloud):
    twin, control = cloud
    ticket = control.request("scale_service", "api", {"replicas": 4}, requester="compute-1")
    finish(twin, ticket)
    assert control.undo(ticket.id, requester="guard")
    started, succeeded, undone = twin.log.of_kind("action_started", "action_succeeded", "action_undone")
    assert started["action"] == "scale_service" and started["target"] == "api" and started["by"] == "compute-1"
    assert started["params"] == {"replicas": 4}
    assert started["eta"] == pytest.approx(started["t"] + ACTIONS["scale_service"].duration)
    assert succeeded["action_id"] == undone["action_id"] == ticket.id
    assert succeeded["t"] == pytest.approx(started["eta"])
    assert undone["by"] == "guard" and ticket.status == "undone"


def test_restart_is_rolling_halves_capacity_for_a_while_and_counts_restarts(cloud):
    twin, control = cloud
    twin.advance()
    before = twin.snapshot("web")
    ticket = finish(twin, control.request("restart_service", "web"))
    assert ticket.status == "succeeded"
    twin.advance()
    during = twin.snapshot("web")
    assert during["up"] and during["restarts"] == 2  # one replica at a time: the service stays up
    assert during["p99"] > before["p99"]  # with half the replicas restarting, the rest run hotter
    twin.run(twin.now + 60)
    assert twin.snapshot("web")["p99"] == pytest.approx(before["p99"], rel=0.2) and twin.health > 0.99
    assert control.undo(ticket.id) is False  # a restart cannot be taken back: nothing is logged
    assert kinds(twin)[-1] == "action_succeeded" and ticket.status == "succeeded"


def test_rollback_returns_to_the_previous_version_and_undo_redeploys(cloud):
    twin, control = cloud
    api = twin.topo.index("api")
    twin.deploy("api", "v2", VersionChanges(latency_factor=4, error_rate=0.1))
    ticket = finish(twin, control.request("rollback_deployment", "api"))
    assert twin.version("api") == "v1" and twin.latency[api] == pytest.approx(0.01) and twin.err0[api] == 0.0005
    control.undo(ticket.id)
    assert twin.version("api") == "v2" and twin.latency[api] == pytest.approx(0.04) and twin.err0[api] == 0.1


def test_scale_sets_replicas_and_undo_restores_them(cloud):
    twin, control = cloud
    api = twin.topo.index("api")
    ticket = finish(twin, control.request("scale_service", "api", {"replicas": 6}))
    twin.advance()
    assert twin.replicas[api] == 6 and twin.frame.cpu[api] > 0
    control.undo(ticket.id)
    assert twin.replicas[api] == 2


def test_scale_accepts_numpy_integers_from_a_policy(cloud):
    twin, control = cloud
    finish(twin, control.request("scale_service", "api", {"replicas": np.int64(3)}))
    assert twin.replicas[twin.topo.index("api")] == 3
    assert twin.log.of_kind("action_started")[0]["params"] == {"replicas": 3}


def test_clean_disk_frees_junk_and_old_logs_and_undo_puts_them_back(cloud):
    twin, control = cloud
    d = twin.topo.disk_index("d1")
    twin.disk_junk[d] = 95e9  # a runaway dump fills the disk
    twin.run(twin.now + 20)  # writes see the disk as it was at the end of the previous tick
    assert twin.frame.disk_used[d] == pytest.approx(1.0)
    assert twin.snapshot("web")["error"] > 0.4  # writes fail on a full disk
    ticket = finish(twin, control.request("clean_disk", "d1"))
    twin.run(twin.now + 20)
    assert twin.frame.disk_used[d] < 0.2 and twin.snapshot("web")["error"] < 0.01
    control.undo(ticket.id)
    twin.advance()
    assert twin.frame.disk_used[d] == pytest.approx(1.0)


def test_expand_disk_grows_it_and_undo_shrinks_it_back(cloud):
    twin, control = cloud
    d = twin.topo.disk_index("d2")
    ticket = finish(twin, control.request("expand_disk", "d2", {"factor": 3}))
    assert twin.disk_size[d] == pytest.approx(300e9)
    control.undo(ticket.id)
    assert twin.disk_size[d] == pytest.approx(100e9)


def test_migrate_moves_a_service_to_another_host_and_undo_moves_it_back(cloud):
    twin, control = cloud
    ticket = finish(twin, control.request("migrate_service", "api", {"host": "h3"}))
    assert twin.service_host("api") == "h3" and twin.restarts[twin.topo.index("api")] == 2  # moved by restarting
    control.undo(ticket.id)
    assert twin.service_host("api") == "h2"


def test_migrate_without_a_host_picks_another_healthy_host(cloud):
    twin, control = cloud
    twin.effects.set("test", "host_down", twin.topo.host_index("h1"), 1)  # not a candidate
    finish(twin, control.request("migrate_service", "api"))
    assert twin.service_host("api") == "h3"


def test_failover_moves_a_service_and_its_data_to_the_standby_and_undo_returns_it(cloud):
    twin, control = cloud
    db = twin.topo.index("db")
    ticket = finish(twin, control.request("failover", "db"))
    assert twin.service_host("db") == "h3" and twin.topo.disks[twin.svc_disk[db]] == "d3"
    control.undo(ticket.id)
    assert twin.service_host("db") == "h2" and twin.topo.disks[twin.svc_disk[db]] == "d2"


def test_failover_keeps_a_dead_primary_from_taking_the_service_down(cloud):
    twin, control = cloud
    twin.effects.set("test", "host_down", twin.topo.host_index("h2"), 1)
    finish(twin, control.request("failover", "db"))
    twin.advance()
    assert twin.snapshot("db")["up"] and not twin.snapshot("api")["up"]


@pytest.mark.parametrize("action, target", [
    ("rotate_certificate", "web"), ("revert_config", "api"), ("rate_limit", "web"), ("replace_disk", "d1"),
    ("reboot_host", "h1"), ("reset_network", "h2"),
])
def test_flag_actions_run_and_tell_listeners(cloud, action, target):
    twin, control = cloud
    heard, done = [], []
    control.listeners.append(heard.append)
    ticket = finish(twin, control.request(action, target, on_done=done.append))
    assert ticket.status == "succeeded" and heard == [ticket] and done == [ticket]
    assert kinds(twin) == ["action_started", "action_succeeded"]


@pytest.mark.parametrize("action, target, params, problem", [
    ("reticulate_splines", "web", {}, "unknown action"),
    ("restart_service", "nginx", {}, "unknown service"),
    ("restart_service", "d1", {}, "unknown service"),  # a disk is not a service
    ("clean_disk", "web", {}, "unknown disk"),
    ("reboot_host", "h9", {}, "unknown host"),
    ("rollback_deployment", "api", {}, "no previous version"),
    ("failover", "web", {}, "no standby"),
    ("scale_service", "api", {}, "replicas"),
    ("scale_service", "api", {"replicas": 0}, "replicas"),
    ("scale_service", "api", {"replicas": "3"}, "replicas"),
    ("scale_service", "api", {"replicas": True}, "replicas"),
    ("migrate_service", "api", {"host": "h9"}, "unknown host"),
    ("expand_disk", "d1", {"factor": "big"}, "factor"),
    ("expand_disk", "d1", {"factor": 0.5}, "factor"),  # that would shrink it
    ("clean_disk", "d1", {"keep": 2}, "keep"),
])
def test_refused_requests_raise_action_error_and_log_nothing(cloud, action, target, params, problem):
    twin, control = cloud
    with pytest.raises(ActionError, match=problem):
        control.request(action, target, params)
    assert kinds(twin) == [] and control.tickets == {}


def test_undo_of_an_unknown_ticket_is_refused(cloud):
    _, control = cloud
    with pytest.raises(ActionError, match="unknown action id"):
        control.undo("a99")


def test_a_failed_action_changes_nothing_and_cannot_be_undone(cloud, monkeypatch):
    twin, control = cloud
    monkeypatch.setattr(ACTIONS["scale_service"], "fail_probability", 1.0)
    ticket = finish(twin, control.request("scale_service", "api", {"replicas": 7}))
    assert ticket.status == "failed" and twin.replicas[twin.topo.index("api")] == 2
    assert kinds(twin) == ["action_started", "action_failed"]
    assert control.undo(ticket.id) is False and ticket.status == "failed"


def test_an_action_that_no_longer_applies_when_it_finishes_fails(cloud):
    twin, control = cloud
    twin.deploy("api", "v2", VersionChanges())
    ticket = control.request("rollback_deployment", "api")
    twin.rollback("api")  # someone else rolled it back meanwhile
    finish(twin, ticket)
    assert ticket.status == "failed" and "no previous version" in ticket.params["reason"]


def test_an_action_cannot_be_undone_twice(cloud):
    twin, control = cloud
    ticket = finish(twin, control.request("expand_disk", "d1"))
    assert control.undo(ticket.id) is True
    assert control.undo(ticket.id) is False
    assert twin.disk_size[twin.topo.disk_index("d1")] == pytest.approx(100e9)


def outcomes(make_twin, seed):
    twin = make_twin(seed=seed)
    twin.advance()
    control = ControlPlane(twin)
    tickets = [control.request("restart_service", "db") for _ in range(60)]
    twin.run(twin.now + 100)
    return [t.status for t in tickets]


def test_failures_are_drawn_from_the_seed(make_twin, monkeypatch):
    monkeypatch.setattr(ACTIONS["restart_service"], "fail_probability", 0.5)
    a, b, c = outcomes(make_twin, 1), outcomes(make_twin, 1), outcomes(make_twin, 2)
    assert a == b and a != c
    assert set(a) == {"succeeded", "failed"}


def test_failures_happen_at_roughly_the_stated_rate(make_twin, monkeypatch):
    monkeypatch.setattr(ACTIONS["restart_service"], "fail_probability", 0.25)
    statuses = outcomes(make_twin, 3) + outcomes(make_twin, 4) + outcomes(make_twin, 5)
    assert 0.1 < statuses.count("failed") / len(statuses) < 0.4


def test_a_migrated_service_writes_to_its_new_hosts_disk_and_undo_moves_it_back(cloud):
    twin, control = cloud
    api = twin.topo.index("api")
    host_before, disk_before = twin.service_host("api"), int(twin.svc_disk[api])
    ticket = finish(twin, control.request("migrate_service", "api", {"host": "h1"}))
    assert ticket.status == "succeeded" and twin.service_host("api") == "h1"
    assert twin.topo.disks[twin.svc_disk[api]] == "d1"
    assert control.undo(ticket.id)
    assert twin.service_host("api") == host_before and int(twin.svc_disk[api]) == disk_before


def test_the_action_port_requests_reads_and_undoes_without_exposing_the_twin(cloud):
    twin, plane = cloud
    port = ActionPort(plane)
    assert not hasattr(port, "twin") and not hasattr(port, "listeners") and not hasattr(port, "__dict__")
    heard: list[TicketView] = []
    view = port.request("scale_service", "api", {"replicas": 5}, requester="t", on_done=heard.append)
    assert isinstance(view, TicketView) and view.status == "pending" and port.replicas("api") != 5
    finish(twin, plane.tickets[view.id])
    assert heard == [port.status(view.id)] and heard[0].status == "succeeded" and port.replicas("api") == 5
    assert not hasattr(heard[0], "undo")
    assert port.undo(view.id, requester="t") and port.status(view.id).status == "undone"
    assert not port.undo(view.id) and not port.undo("a999") and port.status("a999") is None
    with pytest.raises(ActionError):
        port.replicas("nope")
