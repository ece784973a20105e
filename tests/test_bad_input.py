"""Hostile and careless scenario files: each is one clear line naming the field, exit 2, no
traceback, and found before any walk whose cost grows with the input (issue 12, "Bad input")."""

from __future__ import annotations

import pytest

from conftest import SMALL_SCENARIO
from opstwin.scenarios import limits

BILLION_LAUGHS = """\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def refused(cli, text: str, *args: str) -> str:
    """The one error line `opstwin validate` prints for a file holding `text` (warnings aside)."""
    path = cli.write("bad.yaml", "")
    path.write_text(text, encoding="utf-8")
    result = cli("validate", path, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if ": warning: " not in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith(str(path))
    return errors[0]


def small(old: str, new: str) -> str:
    assert old in SMALL_SCENARIO, old
    return SMALL_SCENARIO.replace(old, new, 1)


# ---- limits, checked before the expensive walks ---------------------------------------------

def test_a_file_over_the_size_cap_is_refused_without_being_read_whole(cli):
    line = refused(cli, SMALL_SCENARIO + "# " + "x" * limits.MAX_BYTES + "\n")
    assert "larger than 1024 KiB" in line


def test_validate_dev_zero_reads_a_capped_amount_and_says_so(cli):
    result = cli("validate", "/dev/zero")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == "/dev/zero: (top level): file is larger than 1024 KiB; a scenario is a short " \
                                    "text file (use topology.generate for big topologies)"


def test_nesting_a_thousand_deep_is_refused_with_its_line(cli):
    line = refused(cli, small("load:", "description:\n  " + "[" * 1000 + "]" * 1000 + "\nload:"))
    assert f"nested more than {limits.MAX_DEPTH} levels deep" in line
    assert line.startswith(str(cli.folder / "bad.yaml") + ":14:")


def test_a_billion_laughs_is_refused_at_once(cli):
    assert len(BILLION_LAUGHS) < 500
    line = refused(cli, BILLION_LAUGHS)
    assert "values once aliases are expanded" in line


def test_a_self_referencing_alias_is_refused(cli):
    line = refused(cli, small("load:", "description: &x [*x]\nload:"))
    assert "alias *x refers to the node that contains it" in line


def test_too_many_aliases_are_refused(cli):
    line = refused(cli, small("load:", "x: &s 1\ny: [" + ", ".join(["*s"] * (limits.MAX_ALIASES + 1)) + "]\nload:"))
    assert f"more than {limits.MAX_ALIASES} aliases" in line


@pytest.mark.parametrize("digits", [310, 5000])
def test_a_huge_integer_as_a_duration_names_the_field(cli, digits):
    line = refused(cli, small("duration: 10m", "duration: 1" + "0" * (digits - 1)))
    assert f": duration: not a usable number: an integer of {digits} digits" in line


def test_a_huge_integer_as_a_size_names_the_field(cli):
    line = refused(cli, small("size: 100GB", "size: 1" + "0" * 400))
    assert "topology.hosts[0].disks[0].size: not a usable number" in line


def test_infinity_is_no_quantity(cli):
    line = refused(cli, small("rps: 80", "rps: .inf"))
    assert ": load.rps: " in line and "finite" in line


def test_an_integer_too_big_for_a_float_is_a_clean_error_from_python_too():
    from opstwin.twin.units import parse_duration

    with pytest.raises(ValueError, match="too large"):
        parse_duration(10**400)


def test_a_policy_string_too_long_for_a_path_is_a_clean_error(cli):
    text = small("load:", "agents:\n  specialists:\n    - {name: s, skills: [compute], policy: " + "p" * 300
                 + "}\nload:")
    line = refused(cli, text)
    assert ": agents.specialists[0].policy: unknown bidding policy" in line


def test_an_unhashable_fault_type_is_a_clean_error(cli):
    line = refused(cli, SMALL_SCENARIO + "faults:\n  scheduled:\n    - {type: [], target: web, at: 1m}\n")
    assert ": faults.scheduled[0].type: " in line


def test_generated_services_are_bounded_before_generating(cli):
    line = refused(cli, "name: big\nduration: 1h\ntopology:\n  generate: {services: 300000}\n")
    assert ": topology.generate.services: " in line and "200000" in line


def test_a_day_of_100k_services_is_within_the_limits():
    """The scale the twin is built for (opstwin bench twin --services 100000) is not refused."""
    from types import SimpleNamespace

    from opstwin.scenarios.limits import size_errors

    gen = SimpleNamespace(services=100_000, hosts=None)
    day = SimpleNamespace(topology=SimpleNamespace(generate=gen, services=[]), duration=86400.0, tick=10.0)
    assert size_errors(day) == []


def test_generated_hosts_are_bounded(cli):
    line = refused(cli, "name: big\nduration: 1h\ntopology:\n  generate: {services: 100, hosts: 1000000}\n")
    assert ": topology.generate.hosts: " in line


def test_a_tick_too_small_to_ever_end_is_refused(cli):
    line = refused(cli, small("tick: 10s", "tick: 1e-300"))
    assert ": tick: " in line and "greater than or equal to 0.1" in line


def test_the_number_of_ticks_is_bounded(cli):
    line = refused(cli, small("duration: 10m", "duration: 10000d"))
    assert ": duration: the run would take 86,400,000 ticks" in line


def test_services_times_ticks_is_bounded(cli):
    line = refused(cli, "name: big\nduration: 100d\ntick: 10s\ntopology:\n  generate: {services: 20000}\n")
    assert ": duration: 20,000 services for 864,000 ticks" in line


# ---- what a valid file means ------------------------------------------------------------------

def test_an_explicit_warm_up_as_long_as_the_run_is_an_error(cli):
    line = refused(cli, SMALL_SCENARIO + "agents: {warmup: 10m}\n")
    assert ": agents.warmup: warm-up (10m) is not shorter than the run (10m)" in line


def test_a_run_shorter_than_the_default_warm_up_warns(cli, small_scenario):
    result = cli("validate", small_scenario)
    assert result.exit_code == 0
    assert "duration: warning: the run is not longer than the agents' default warm-up (30m)" in result.stderr


FAULTY = SMALL_SCENARIO.replace("duration: 10m", "duration: 2h") + "agents: {warmup: 10m}\nfaults:\n  scheduled:\n"


def test_a_fault_inside_the_warm_up_is_a_warning(cli):
    path = cli.write("f.yaml", FAULTY + "    - {type: crash_loop, target: api, at: 5m}\n")
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    assert "faults.scheduled[0].at: warning: the fault may start inside the agents' warm-up (10m)" in result.stderr


@pytest.mark.parametrize("fault, words", [
    ("{type: host_failure, target: h3, at: 1h}", "no service runs on host 'h3'"),
    ("{type: traffic_spike, target: api, at: 1h}", "'api' is not an entry service"),
    ("{type: dependency_outage, target: web, at: 1h}", "no service calls 'web'"),
    ("{type: disk_fill, target: d3, at: 1h}", "no service uses disk 'd3'"),
])
def test_a_fault_with_no_possible_symptom_is_refused(cli, fault, words):
    text = FAULTY.replace("    - {name: h2}", "    - {name: h2}\n    - {name: h3, disks: [{name: d3, size: 1TB}]}")
    line = refused(cli, text + f"    - {fault}\n")
    assert ": faults.scheduled[0].target: " in line and words in line


def test_a_standby_host_equal_to_the_host_is_refused(cli):
    line = refused(cli, small("{name: db, host: h2}", "{name: db, host: h2, standby_host: h2}"))
    assert ": topology.services[2].standby_host: 'h2' is the service's own host" in line


def test_two_identical_faults_at_once_are_refused(cli):
    fault = "    - {type: crash_loop, target: api, at: 1h}\n"
    line = refused(cli, FAULTY + fault + fault)
    assert ": faults.scheduled[1]: same type, target and time as faults.scheduled[0]" in line


def test_two_deployments_of_one_service_at_one_instant_are_refused(cli):
    text = SMALL_SCENARIO + "deployments:\n  - {at: 5m, service: api, version: v2}\n  - {at: 5m, service: api, version: v3}\n"
    line = refused(cli, text)
    assert ": deployments[1].at: 'api' is already deployed at this time (deployments[0])" in line


def test_a_negative_seed_is_refused(cli, small_scenario):
    for args in (["run", small_scenario, "--seed", "-5"], ["bench", "twin", "--seed", "-5"]):
        result = cli(*args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "--seed" in result.stderr and "-5" in result.stderr


@pytest.mark.parametrize("text, expected", [
    ("[::1]:5222", ("::1", 5222)), ("[::1]", ("::1", 5222)), ("[2001:db8::7]:5322", ("2001:db8::7", 5322)),
    ("::1", ("::1", 5222)), ("localhost", ("localhost", 5222)), ("10.0.0.2:5223", ("10.0.0.2", 5223)),
])
def test_xmpp_addresses_parse_ipv6_in_brackets(text, expected):
    from opstwin.agents.address import parse_address

    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["[::1", "[nope]:5222", "[::1]x", "host:port", "host:70000", ":5222"])
def test_bad_xmpp_addresses_are_one_clear_error(cli, small_scenario, text):
    result = cli("run", small_scenario, "--xmpp", text, "--out", cli.folder / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--xmpp': bad XMPP address" in result.stderr
    assert not (cli.folder / "out").exists()


def test_the_cli_hands_the_transport_an_ipv6_address_it_reads_right():
    from opstwin.agents.xmpp.transport import parse_address as transport_parse
    from opstwin.cli.main import xmpp_address

    assert transport_parse(xmpp_address(None, None, "[::1]:5222")) == ("::1", 5222)
    assert transport_parse(xmpp_address(None, None, "example.org:5333")) == ("example.org", 5333)
    assert transport_parse(xmpp_address(None, None, "[::1]:5223")) == ("::1", 5223)
