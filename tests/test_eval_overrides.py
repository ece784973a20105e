"""Variant overrides: key paths, YAML values, defaults filled in, accumulation."""

from __future__ import annotations

import pytest
import yaml
from eval_helpers import TINY

from opstwin.scenarios.loader import parse
from opstwin.scenarios.overrides import OverrideError, apply, parse_path, parse_variants


def test_paths():
    assert parse_path("agents.monitor.detector") == ("agents", "monitor", "detector")
    assert parse_path("agents.specialists[0].policy") == ("agents", "specialists", 0, "policy")
    assert parse_path("agents.specialists.1.policy") == ("agents", "specialists", 1, "policy")
    assert parse_path("agents.specialists[*].policy") == ("agents", "specialists", "*", "policy")
    for bad in ("", "a..b", "a[", ".a"):
        with pytest.raises(OverrideError):
            parse_path(bad)


def test_variants_accumulate_and_values_are_yaml():
    vs = parse_variants(["thr=agents.monitor.detector=threshold", "rnd=agents.specialists[*].policy=random",
                         "thr=agents.monitor.persistence=5", "thr=duration=1h"])
    assert [v.name for v in vs] == ["baseline", "thr", "rnd"]
    assert [(o.path, o.value) for o in vs[1].overrides] == [
        (("agents", "monitor", "detector"), "threshold"), (("agents", "monitor", "persistence"), 5),
        (("duration",), "1h")]
    data = yaml.safe_load(TINY)
    s = parse(apply(data, vs[1].overrides))
    assert (s.agents.monitor.detector, s.agents.monitor.persistence, s.duration) == ("threshold", 5, 3600.0)
    assert s.agents.warmup == 1800.0  # the file's own value kept
    assert data["agents"] == {"warmup": "30m"}  # the data given is not changed


def test_missing_sections_start_from_defaults():
    data = yaml.safe_load(TINY)
    del data["agents"]
    s = parse(apply(data, parse_variants(["r=agents.specialists[*].policy=random"])[1].overrides))
    assert [sp.policy for sp in s.agents.specialists] == ["random"] * 4
    assert [sp.name for sp in s.agents.specialists] == ["compute", "storage", "deploy", "network"]


def test_bad_paths():
    data = yaml.safe_load(TINY)
    for spec, msg in (("x=duration.a=1", "is a value"), ("x=agents.specialists[9].policy=a", "out of range"),
                      ("x=topology.services.name=a", "is a list")):
        with pytest.raises(OverrideError, match=msg):
            apply(data, parse_variants([spec])[1].overrides)
