"""What actions cost: every action does to the twin what it does in a real estate, whether or not
it fixes anything; failures are configurable per scenario and more likely on a sick host.

The small cloud (see conftest): web (h1, d1) -> api (h2, d2) -> db (h2, d2, standby h3).
"""

from __future__ import annotations

import pytest
import yaml
from conftest import SMALL_SCENARIO

from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import parse
from opstwin.twin import control as c
from opstwin.twin.control import ACTIONS, ActionError, ControlPlane
from opstwin.twin.spec import ActionSettings


@pytest.fixture
def cloud(make_twin, no_failures):
    twin = make_twin()
    twin.run(60)
    return twin, ControlPlane(twin)


def finish(twin, ticket, limit=5000.0):
    while ticket.status in ("pending", "running"):
        assert twin.now < limit, "action never finished"
        twin.advance()
    return ticket


def until(twin, t):
    twin.run(t)
    return twin.frame


def i_(twin, name):
    return twin.topo.index(name)


# ------------------------------------------------------------------ reboot
def test_a_reboot_takes_every_service_of_the_host_down_then_back_with_fresh_memory(cloud):
    twin, control = cloud
    api, db, web = i_(twin, "api"), i_(twin, "db"), i_(twin, "web")
    twin.mem_extra[api] = 0.3e9
    t0 = twin.now
    ticket = control.request("reboot_host", "h2")
    duration = ACTIONS["reboot_host"].duration
    frame = until(twin, t0 + 0.5 * duration)
    assert not frame.up[api] and not frame.up[db] and frame.up[web]  # h1 keeps running
    assert frame.error[web] > 0.9 and twin.health < 0.2  # web's calls into h2 fail
    finish(twin, ticket)
    frame = twin.advance()
    assert ticket.status == "succeeded" and frame.up[api] and frame.up[db]
    assert twin.mem_extra[api] == 0.0 and frame.restarts[api] == 2 and twin.health > 0.99
    assert control.undo(ticket.id) is False  # what happened happened


def test_a_reboot_runs_most_of_its_duration_down(cloud):
    twin, control = cloud
    t0 = twin.now
    control.request("reboot_host", "h2")
    duration = ACTIONS["reboot_host"].duration
    frame = until(twin, t0 + c.REBOOT_SHUTDOWN * duration - 10)
    assert frame.up[i_(twin, "api")]  # still draining
    frame = until(twin, t0 + duration - 10)
    assert not frame.up[i_(twin, "api")]


def test_a_failed_reboot_leaves_the_host_down_for_another_attempt(cloud, monkeypatch):
    twin, control = cloud
    monkeypatch.setattr(ACTIONS["reboot_host"], "fail_probability", 1.0)
    ticket = finish(twin, control.request("reboot_host", "h2"))
    assert ticket.status == "failed"
    frame = until(twin, ticket.finished_at + ACTIONS["reboot_host"].duration - 20)
    assert not frame.up[i_(twin, "api")]
    frame = until(twin, ticket.finished_at + ACTIONS["reboot_host"].duration + 20)
    assert frame.up[i_(twin, "api")] and not twin.effects.active("host_down")


# -------------------------------------------------------------- rate limit
def test_a_rate_limit_on_a_healthy_service_turns_users_away_until_it_is_lifted(cloud):
    twin, control = cloud
    web = i_(twin, "web")
    ticket = finish(twin, control.request("rate_limit", "web", {"hold": 600}))
    frame = twin.advance()
    # telemetry reports the 429s apart from server errors; users turned away still cost health
    assert frame.throttled[web] == pytest.approx(c.RATE_LIMIT_FALSE_POSITIVES, rel=1e-5)  # a float32 figure
    assert frame.error[web] < 0.005
    assert twin.health == pytest.approx(1 - c.RATE_LIMIT_FALSE_POSITIVES, abs=0.003)
    frame = until(twin, ticket.finished_at + 590)
    assert frame.throttled[web] > 0.015  # it holds ...
    frame = until(twin, ticket.finished_at + 620)
    assert frame.throttled[web] == 0 and not twin.effects.active("svc_rate_cap")  # ... then lifts itself


def test_a_rate_limit_holds_thirty_minutes_by_default_and_undo_lifts_it(cloud):
    twin, control = cloud
    ticket = finish(twin, control.request("rate_limit", "web"))
    frame = until(twin, ticket.finished_at + c.RATE_LIMIT_HOLD - 30)
    assert c.RATE_LIMIT_HOLD == 1800 and frame.throttled[i_(twin, "web")] > 0.015
    assert control.undo(ticket.id)
    frame = twin.advance()
    assert frame.throttled[i_(twin, "web")] == 0 and not twin.effects.active("svc_reject")


def test_a_rate_limit_beats_overload_on_a_flash_crowd(make_twin, no_failures):
    def crowd(limit: bool):
        twin = make_twin()
        twin.run(60)
        twin.effects.set("crowd", "svc_rate_mult", i_(twin, "web"), 6.0)  # 300 requests/s into 200 of capacity
        if limit:
            finish(twin, ControlPlane(twin).request("rate_limit", "web"))
        twin.run(twin.now + 60)
        return twin.snapshot("web"), twin.health

    (over, h_over), (limited, h_limited) = crowd(False), crowd(True)
    assert limited["p99"] < over["p99"] / 4  # admitted requests are served fast, the rest fail fast
    assert h_limited > h_over + 0.2


def test_rate_limit_parameters_are_checked(cloud):
    _, control = cloud
    with pytest.raises(ActionError, match="hold"):
        control.request("rate_limit", "web", {"hold": -5})
    with pytest.raises(ActionError, match="cap"):
        control.request("rate_limit", "web", {"cap": 0})


# ---------------------------------------------------------------- restarts
@pytest.mark.parametrize("action", ["restart_service", "revert_config", "rotate_certificate"])
def test_restarting_actions_roll_the_replicas_even_when_they_fail(cloud, monkeypatch, action):
    twin, control = cloud
    monkeypatch.setattr(ACTIONS[action], "fail_probability", 1.0)
    base = twin.snapshot("api")
    ticket = finish(twin, control.request(action, "api"))
    during = twin.snapshot("api")
    assert ticket.status == "failed" and during["restarts"] == 2 and during["p99"] > base["p99"]


def test_restarting_a_single_replica_service_takes_it_down(cloud):
    twin, control = cloud
    finish(twin, control.request("restart_service", "db"))
    assert not twin.snapshot("db")["up"]


# ------------------------------------------------------------------- moves
@pytest.mark.parametrize("action, params", [("failover", {}), ("migrate_service", {"host": "h3"})])
def test_a_moved_service_starts_on_cold_caches(cloud, action, params):
    twin, control = cloud
    db = i_(twin, "db")
    ticket = finish(twin, control.request(action, "db", params))
    t1 = ticket.finished_at
    assert twin.svc_lat_mult[db] == pytest.approx(c.COLD_CACHE)
    until(twin, t1 + c.COLD_SECONDS / 2)
    assert 1.2 < twin.svc_lat_mult[db] < c.COLD_CACHE  # warming up
    until(twin, t1 + c.COLD_SECONDS + 30)
    assert twin.svc_lat_mult[db] == 1.0 and not twin.effects.active("svc_lat_mult")


def test_undoing_a_move_clears_its_cold_caches(cloud):
    twin, control = cloud
    ticket = finish(twin, control.request("failover", "db"))
    assert control.undo(ticket.id) and twin.service_host("db") == "h2"
    assert not twin.effects.active("svc_lat_mult")
    for _ in range(int(c.COLD_SECONDS // 10)):  # the warm-up process does not set it again
        twin.advance()
        assert not twin.effects.active("svc_lat_mult")


# ------------------------------------------------------ network, disk, host
def test_a_network_reset_drops_the_hosts_connections_for_half_a_minute(cloud):
    twin, control = cloud
    ticket = finish(twin, control.request("reset_network", "h2"))
    frame = twin.frame
    assert frame.error[i_(twin, "api")] >= c.RESET_DROP_ERRORS and frame.error[i_(twin, "web")] > 0.4
    frame = until(twin, ticket.finished_at + c.RESET_DROP_SECONDS + 10)
    assert frame.error[i_(twin, "api")] < 0.01 and twin.health > 0.99


def test_a_new_disk_resyncs_slowing_the_services_that_write_to_it(cloud):
    twin, control = cloud
    api, db, web = i_(twin, "api"), i_(twin, "db"), i_(twin, "web")
    ticket = finish(twin, control.request("replace_disk", "d2"))  # a healthy disk pays it too
    assert twin.svc_lat_mult[api] == twin.svc_lat_mult[db] == c.RESYNC_LATENCY and twin.svc_lat_mult[web] == 1.0
    assert control.undo(ticket.id) is False
    until(twin, ticket.finished_at + c.RESYNC_SECONDS + 10)
    assert twin.svc_lat_mult[api] == 1.0


def test_moving_a_noisy_neighbour_is_a_cpu_blip_on_the_host(cloud):
    twin, control = cloud
    h2 = twin.topo.host_index("h2")
    base = float(twin.frame.host_cpu[h2])
    ticket = finish(twin, control.request("migrate_noisy_neighbour", "h2"))
    frame = twin.advance()
    assert frame.host_cpu[h2] == pytest.approx(base + c.BLIP_SHARE, abs=0.01)
    frame = until(twin, ticket.finished_at + c.BLIP_SECONDS + 10)
    assert frame.host_cpu[h2] == pytest.approx(base, abs=0.01)


def test_scaling_up_adds_cpu_demand_on_the_host(cloud):
    twin, control = cloud
    h2 = twin.topo.host_index("h2")
    base = float(twin.frame.host_cpu[h2])
    finish(twin, control.request("scale_service", "api", {"replicas": 20}))
    assert twin.advance().host_cpu[h2] > base + 0.04  # idle replicas are not free


# ------------------------------------------------------------ failure odds
def test_failure_is_likelier_on_a_down_or_saturated_host(cloud, monkeypatch):
    twin, control = cloud
    monkeypatch.setattr(ACTIONS["restart_service"], "fail_probability", 0.02)
    assert control.fail_probability("restart_service", "api") == pytest.approx(0.02)
    twin.effects.set("test", "host_steal", twin.topo.host_index("h2"), 40.0)  # a neighbour takes the CPU
    twin.advance()
    assert control.fail_probability("restart_service", "api") == pytest.approx(0.02 * c.SATURATED_FAIL)
    assert control.fail_probability("restart_service", "web") == pytest.approx(0.02)  # h1 is fine
    twin.effects.set("test", "host_down", twin.topo.host_index("h2"), 1.0)
    assert control.fail_probability("restart_service", "api") == c.HOST_DOWN_FAIL
    assert control.fail_probability("clean_disk", "d2") == c.HOST_DOWN_FAIL
    assert control.fail_probability("failover", "db") < 0.1  # a failover does not need the dead primary
    assert control.fail_probability("reboot_host", "h2") < 0.1  # out of band


def test_actions_on_a_dead_host_mostly_fail_and_the_draws_are_seeded(make_twin, no_failures):
    def statuses(seed):
        twin = make_twin(seed=seed)
        twin.advance()
        twin.effects.set("test", "host_down", twin.topo.host_index("h2"), 1.0)
        control = ControlPlane(twin)
        tickets = [control.request("restart_service", "api") for _ in range(40)]
        twin.run(twin.now + 60)
        return [t.status for t in tickets]

    a = statuses(1)
    assert a == statuses(1) and a != statuses(2)
    assert 0.6 < a.count("failed") / len(a) < 0.95


# ------------------------------------------------------ the scenario's knob
def test_a_scenario_sets_an_actions_failure_probability_and_duration(make_twin):
    twin = make_twin()
    twin.advance()
    control = ControlPlane(twin, {"restart_service": ActionSettings(fail=1.0, duration=95.0)})
    assert control.duration("restart_service") == 95.0 and control.duration("failover") == ACTIONS["failover"].duration
    ticket = finish(twin, control.request("restart_service", "api"))
    assert ticket.status == "failed" and ticket.finished_at - ticket.requested_at == pytest.approx(95.0)
    assert twin.log.of_kind("action_started")[0]["eta"] == pytest.approx(ticket.requested_at + 95.0)


def test_an_unknown_action_in_the_settings_is_refused(make_twin):
    with pytest.raises(ActionError, match="unknown action 'restart'"):
        ControlPlane(make_twin(), {"restart": ActionSettings(fail=0.1)})


def test_the_scenario_file_validates_the_actions_section():
    data = yaml.safe_load(SMALL_SCENARIO)
    data["actions"] = {"reboot_host": {"fail": 0.2, "duration": "10m"}}
    scenario = parse(data)
    assert scenario.actions["reboot_host"].duration == 600 and scenario.actions["reboot_host"].fail == 0.2
    data["actions"] = {"reboot_hots": {"fail": 0.2}}
    with pytest.raises(ScenarioError) as err:
        parse(data, "s.yaml")
    assert str(err.value).count("\n") == 0 and "actions.reboot_hots: unknown action 'reboot_hots'" in str(err.value)
    data["actions"] = {"reboot_host": {"fail": 1.5}}
    with pytest.raises(ScenarioError, match="actions.reboot_host.fail"):
        parse(data)
