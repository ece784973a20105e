"""Checking a policy file without loading it: validation must stay fast and never import torch.

A policy written by ``opstwin train`` is SB3's zip with one more member, ``opstwin.json``
(:data:`MEMBER`), naming the features version and the spaces it was trained with. A file that is
missing, not a zip, not SB3's, from another environment or from an older observation layout is
refused with one line saying which.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from opstwin.agents.policies import PolicyError

MEMBER = "opstwin.json"


def stamp(features_version: int, obs_dim: int, n_actions: int) -> dict[str, Any]:
    """What a policy zip records about the observation and action it expects."""
    return {"env": "opstwin/ContractNetBidding-v0", "features_version": features_version, "obs_dim": obs_dim,
            "n_actions": n_actions}


def read_stamp(path: Path) -> dict[str, Any]:
    """The stamp of a policy zip (PolicyError: not a zip, not SB3's, or not from `opstwin train`)."""
    if not path.is_file():
        raise PolicyError(f"bidding policy model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if not {"data", "policy.pth"} <= names:
                raise PolicyError(f"{path}: not a stable-baselines3 model (no data/policy.pth inside)")
            if MEMBER not in names:
                raise PolicyError(f"{path}: not a bidding policy written by `opstwin train` (no {MEMBER} inside)")
            return json.loads(z.read(MEMBER))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"{path}: not a readable policy zip ({exc})") from None


def check_model_file(path: Path) -> dict[str, Any]:
    """Raise PolicyError unless `path` is a policy for this version's bidding observation and action."""
    from opstwin.rl.features import FEATURES_VERSION, N_ACTIONS, OBS_DIM

    got = read_stamp(path)
    want = stamp(FEATURES_VERSION, OBS_DIM, N_ACTIONS)
    for key, value in want.items():
        if got.get(key) != value:
            raise PolicyError(f"{path}: trained for {key}={got.get(key)!r}, this opstwin needs {value!r} "
                              "(retrain with `opstwin train`)")
    return got
