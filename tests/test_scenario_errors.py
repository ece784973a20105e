"""A bad scenario is refused before anything starts, naming the file, the field and the line.

The base file is conftest's small scenario (lines: 4 tick, 7-8 hosts, 10 web, 11 api, 12 db,
14 rps); each test breaks one thing in it.
"""

import pytest

from opstwin.scenarios.errors import Problem, ScenarioError
from opstwin.scenarios.loader import load


@pytest.fixture
def broken(small_scenario):
    """broken(old, new) -> the problems of the small scenario with `old` replaced by `new`."""

    def problems(old: str, new: str) -> list[Problem]:
        text = small_scenario.read_text()
        assert old in text, old
        small_scenario.write_text(text.replace(old, new, 1))
        with pytest.raises(ScenarioError) as exc:
            load(small_scenario)
        for p in exc.value.problems:
            assert p.file == str(small_scenario)
        return exc.value.problems

    return problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_the_small_scenario_is_valid(small_scenario):
    scenario = load(small_scenario)
    assert scenario.name == "small" and scenario.duration == 600 and scenario.ticks == 60
    assert [s.name for s in scenario.topology.services] == ["web", "api", "db"]


def test_a_bad_unit_names_the_field_the_line_and_the_units(broken):
    p = only(broken("tick: 10s", "tick: 10 parsecs"))
    assert (p.path, p.line) == ("tick", 4)
    assert "ms, s, m, h or d" in p.message


def test_a_bad_size_names_the_field(broken):
    p = only(broken("size: 100GB", "size: 100 GiGs"))
    assert (p.path, p.line) == ("topology.hosts[0].disks[0].size", 7)


def test_an_unknown_key_is_refused_with_its_path(broken):
    p = only(broken("    - {name: db, host: h2}", "    - {name: db, host: h2, colour: blue}"))
    assert (p.path, p.line) == ("topology.services[2].colour", 12)
    assert "unknown key" in p.message


def test_an_unknown_top_level_key_is_refused(broken):
    p = only(broken("load:", "no_such_key: 1\nload:"))
    assert (p.path, p.line) == ("no_such_key", 13)


def test_a_dependency_cycle_is_refused_with_the_cycle_spelled_out(broken):
    p = only(broken("- {name: db, host: h2}", "- {name: db, host: h2, depends_on: [web]}"))
    assert p.path.startswith("topology.services[") and p.path.endswith("].depends_on")
    assert "cycle" in p.message and "web -> api -> db -> web" in p.message
    assert p.line in (10, 11, 12)


def test_a_service_cannot_depend_on_itself(broken):
    p = only(broken("- {name: db, host: h2}", "- {name: db, host: h2, depends_on: [db]}"))
    assert (p.path, p.line) == ("topology.services[2].depends_on[0]", 12)


def test_an_unknown_dependency_is_named(broken):
    p = only(broken("depends_on: [api]", "depends_on: [api, cache]"))
    assert (p.path, p.line) == ("topology.services[0].depends_on[1]", 10)
    assert "'cache'" in p.message


def test_an_unknown_host_is_named(broken):
    p = only(broken("{name: db, host: h2}", "{name: db, host: h7}"))
    assert (p.path, p.line) == ("topology.services[2].host", 12)
    assert "'h7'" in p.message


def test_unknown_disk_and_standby_host_are_named(broken):
    problems = broken("{name: db, host: h2}", "{name: db, host: h2, disk: d9, standby_host: h9}")
    assert {(p.path, p.line) for p in problems} == {
        ("topology.services[2].disk", 12), ("topology.services[2].standby_host", 12)}


def test_a_wrong_type_is_named_with_what_was_given(broken):
    p = only(broken("{name: db, host: h2}", "{name: db, host: h2, replicas: many}"))
    assert (p.path, p.line) == ("topology.services[2].replicas", 12)
    assert "integer" in p.message and "'many'" in p.message


def test_a_dependency_of_the_wrong_type_has_a_clean_path(broken):
    problems = broken("depends_on: [api]", "depends_on: [42]")
    assert {p.path for p in problems} == {"topology.services[0].depends_on[0]"}
    assert all(p.line == 10 for p in problems)


def test_a_bad_calls_multiplier_has_a_clean_path(broken):
    problems = broken("calls: 2", "calls: -2")
    assert "topology.services[1].depends_on[0].calls" in {p.path for p in problems}


@pytest.mark.parametrize("name", ["stream-api", "strict", "web"])
def test_load_weights_problems_keep_the_service_name_in_the_path(broken, name):
    p = only(broken("  rps: 80", f"  rps: 80\n  weights: {{{name}: heavy}}"))
    assert p.path == f"load.weights.{name}" and p.line == 15


def test_weights_for_unknown_services_are_refused(broken):
    p = only(broken("  rps: 80", "  rps: 80\n  weights: {shop: 2}"))
    assert p.path == "load.weights.shop" and "unknown service" in p.message


def test_duplicate_service_names_are_refused(broken):
    problems = broken("{name: db, host: h2}", "{name: api, host: h2}")
    dup = [p for p in problems if "duplicate service 'api'" in p.message]
    assert [(p.path, p.line) for p in dup] == [("topology.services[2].name", 12)]


def test_duplicate_host_names_are_refused(broken):
    problems = broken("- {name: h2}", "- {name: h1}")
    dup = [p for p in problems if "duplicate host 'h1'" in p.message]
    assert [(p.path, p.line) for p in dup] == [("topology.hosts[1].name", 8)]


def test_a_service_listing_a_dependency_twice_is_refused(broken):
    p = only(broken("depends_on: [api]", "depends_on: [api, {service: api, calls: 3}]"))
    assert (p.path, p.line) == ("topology.services[0].depends_on[1]", 10)
    assert "more than once" in p.message


def test_a_deployment_of_an_unknown_service_or_after_the_end_is_refused(broken):
    problems = broken("load:", "deployments:\n  - {at: 20m, service: cache, version: v2}\nload:")
    assert {p.path for p in problems} == {"deployments[0].service", "deployments[0].at"}
    assert all(p.line == 14 for p in problems)


def test_a_missing_required_field_is_named(broken):
    p = only(broken("duration: 10m\n", ""))
    assert p.path == "duration" and "missing" in p.message


def test_every_problem_is_reported_at_once(broken):
    problems = broken("tick: 10s", "tick: banana\nfoo: 1")
    assert {p.path for p in problems} == {"tick", "foo"}


@pytest.mark.parametrize("text", ["- just\n- a list\n", "42\n", "just a string\n", ""])
def test_a_file_that_is_not_a_mapping_is_refused(cli, text):
    path = cli.write("list.yaml", text)
    with pytest.raises(ScenarioError) as exc:
        load(path)
    p = only(exc.value.problems)
    assert p.path == "" and "mapping" in p.message and p.file == str(path)


def test_invalid_yaml_is_refused_with_its_line(cli):
    path = cli.write("broken.yaml", "name: x\nduration: 1h\ntopology: {hosts: [\n  oops: : :\n")
    with pytest.raises(ScenarioError) as exc:
        load(path)
    p = only(exc.value.problems)
    assert p.message.startswith("not valid YAML") and p.line is not None and 3 <= p.line <= 5


def test_a_missing_file_is_one_problem(tmp_path):
    with pytest.raises(ScenarioError) as exc:
        load(tmp_path / "nope.yaml")
    assert "cannot read file" in only(exc.value.problems).message


def test_a_binary_file_is_one_problem_not_a_crash(tmp_path):
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ScenarioError) as exc:
        load(path)
    assert "UTF-8" in only(exc.value.problems).message


def test_a_problem_reads_as_file_line_path_message():
    assert str(Problem("s.yaml", "topology.services[2].host", "unknown host 'h7'", 12)) == (
        "s.yaml:12: topology.services[2].host: unknown host 'h7'")
    assert str(Problem("s.yaml", "", "not a mapping")) == "s.yaml: (top level): not a mapping"


def test_a_key_given_twice_is_refused_rather_than_silently_overridden(broken):
    p = only(broken("tick: 10s", "tick: 10s\ntick: 1h"))
    assert (p.path, p.line) == ("tick", 5)
    assert "given twice" in p.message and "line 4" in p.message


def test_a_nested_key_given_twice_is_refused(broken):
    p = only(broken("{name: db, host: h2}", "{name: db, host: h2, host: h1}"))
    assert (p.path, p.line) == ("topology.services[2].host", 12)


def test_weights_for_a_service_that_takes_no_user_traffic_are_refused(broken):
    p = only(broken("  rps: 80", "  rps: 80\n  weights: {web: 1, api: 2}"))
    assert p.path == "load.weights.api" and "entry" in p.message
