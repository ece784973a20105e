"""Bidding policies by name or model file: a trained zip loads once, runs in a scenario, and a
missing or mismatched one is one line at validation (exit 2)."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from opstwin.agents.policies import PolicyError, check_policy, load_policy

ROOT = Path(__file__).parents[1]
COMMITTED = ROOT / "rl" / "policies" / "contention-ppo.zip"
OPSTWIN = [sys.executable, "-m", "opstwin.cli.main"]


def _scenario(tmp_path: Path, policy: str) -> Path:
    text = (ROOT / "scenarios" / "contention" / "contention-drill.yaml").read_text()
    text = text.replace("duration: 4h", "duration: 2h").replace("success: 0.9}}", f"success: 0.9}}}}, policy: {policy}")
    path = tmp_path / "drill.yaml"
    path.write_text(text)
    return path


def test_named_policies_load_and_unknown_ones_are_refused():
    for name in ("random", "heuristic", "central"):
        assert load_policy(name).name == name
    with pytest.raises(PolicyError, match="unknown bidding policy"):
        check_policy("greedy")


def test_a_missing_or_foreign_model_file_is_one_line_at_validate(tmp_path):
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("data", "{}")
        z.writestr("policy.pth", "")
    stale = tmp_path / "stale.zip"
    with zipfile.ZipFile(stale, "w") as z:
        z.writestr("data", "{}")
        z.writestr("policy.pth", "")
        z.writestr("opstwin.json", json.dumps({"env": "opstwin/ContractNetBidding-v0", "features_version": 0,
                                               "obs_dim": 14, "n_actions": 7}))
    for model, expected in [(tmp_path / "nope.zip", "not found"), (foreign, "not a bidding policy written by"),
                            (stale, "features_version")]:
        path = _scenario(tmp_path, str(model))
        for cmd in (["validate", str(path)], ["run", str(path), "--transport", "inproc", "-q", "--out",
                                              str(tmp_path / "out")]):
            res = subprocess.run(OPSTWIN + cmd, capture_output=True, text=True, timeout=120)
            assert res.returncode == 2, res.stderr
            assert expected in res.stderr and "Traceback" not in res.stderr


@pytest.mark.skipif(not COMMITTED.exists(), reason="no committed policy")
def test_the_committed_policy_checks_loads_once_and_bids(tmp_path):
    check_policy(str(COMMITTED))
    cache: dict = {}
    a = load_policy(str(COMMITTED), cache=cache)
    b = load_policy(str(COMMITTED), cache=cache)
    assert a is b and a.name == "rl"
