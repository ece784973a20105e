"""The RCA methods ``opstwin rca score`` runs on a case, from their maintained packages.

- ``baro``: BARO's own package, ``fse-baro`` (``baro.root_cause_analysis.robust_scorer``): each
  column's largest robust z-score after the injection against the window before it.
- ``nsigma``, ``circa``: RCAEval's implementations (``RCAEval.e2e``; on Python 3.11 imported from
  their modules, see the README); ``rcaeval-baro`` is RCAEval's copy of BARO, for a cross-check.
  They are called as RCAEval's own runner calls them for its RE2 cases (``dataset="re2-ob"``: the
  time column dropped, constant columns too).
- ``team``: opstwin's own diagnosis of that fault, read from the run's incident log at export time
  (``case.json``'s ``team``); no diagnosis is an empty ranking.

Each returns the ranking, best first: metric columns (``<component>_<metric>``) for the
packages, components for the team. They are the optional extra ``opstwin[rca]``; nothing here is
imported until a method runs. CIRCA swallows its own exceptions and returns the unranked column
order; that is caught here and reported as a failure (an empty ranking: a miss), not scored as
if it were a ranking. CIRCA's PC search is given the case's distinct columns (near-duplicates
dropped, as RCAEval's multi-source CIRCA does) and is not run on a case with more than
``CIRCA_MAX_COLUMNS`` of them or not fewer than its samples (its test would be singular): a rule
on the case's shape, not a wall-clock timeout, so a score does not depend on the machine.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

METHODS = ("baro", "nsigma", "circa", "team", "rcaeval-baro")
DEFAULT_METHODS = ("baro", "nsigma", "circa", "team")
RE2 = "re2-ob"  # how RCAEval names the dataset its RE2 runner passes (the time column is dropped)
EXTRA = 'the RCA methods are an optional extra: pip install "opstwin[rca]"'


class MethodError(RuntimeError):
    """A method that could not rank a case (recorded as a failure, the case counts as a miss)."""


def check_available(methods: list[str]) -> None:
    """Raise ImportError naming the missing package when a method's package is not installed."""
    if any(m in ("baro",) for m in methods):
        import baro.root_cause_analysis  # noqa: F401
    if any(m in ("nsigma", "circa", "rcaeval-baro") for m in methods):
        import RCAEval.utility  # noqa: F401
    if "circa" in methods:
        import RCAEval.e2e.circa  # noqa: F401


def _baro(df: Any, inject: int) -> dict[str, Any]:
    from baro.root_cause_analysis import robust_scorer

    return robust_scorer(df, inject_time=inject)


def _nsigma(df: Any, inject: int) -> dict[str, Any]:
    from RCAEval.e2e import nsigma

    return nsigma(df, inject_time=inject, dataset=RE2)


def _rcaeval_baro(df: Any, inject: int) -> dict[str, Any]:
    from RCAEval.e2e.baro import baro

    return baro(df, inject_time=inject, dataset=RE2)


def distinct_columns(df: Any, threshold: float = 0.99) -> list[str]:
    """The columns CIRCA is given: constant ones dropped, and of each group correlated above
    `threshold` only the first (RCAEval's own multi-source CIRCA does this to keep the causal graph
    tractable; exact duplicates, such as CPU proportional to load, make its PC test singular)."""
    import numpy as np

    from RCAEval.io.time_series import preprocess

    x = preprocess(data=df, dataset=RE2)
    cols = list(x.columns)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(x.to_numpy(dtype=float), rowvar=False)) if cols else np.zeros((0, 0))
    dropped: set[int] = set()
    for i in range(len(cols)):
        if i in dropped:
            continue
        for j in np.flatnonzero(corr[i, i + 1:] > threshold) + i + 1:
            dropped.add(int(j))
    return [c for i, c in enumerate(cols) if i not in dropped]


CIRCA_MAX_COLUMNS = 100  # its PC search takes ~3 s at 90 columns and grows fast; above this it is not run


def _circa(df: Any, inject: int) -> dict[str, Any]:
    import io
    from contextlib import redirect_stderr

    from RCAEval.e2e.circa import circa

    cols = distinct_columns(df)
    if len(cols) > CIRCA_MAX_COLUMNS or len(cols) >= len(df) - 1:
        raise MethodError(f"{len(cols)} distinct columns over {len(df)} samples: more than CIRCA's PC "
                          f"search can take (at most {CIRCA_MAX_COLUMNS}, and fewer than the samples)")
    df = df[["time", *cols]]
    err = io.StringIO()
    with redirect_stderr(err):
        result = circa(df, inject_time=inject, dataset=RE2)
    adj = result.get("adj")
    if isinstance(adj, list) and not adj:  # its wrapper's fallback: the column order, not a ranking
        reason = err.getvalue().strip().splitlines()
        raise MethodError(reason[-1] if reason else "circa failed")
    return result


RUNNERS: dict[str, Callable[[Any, int], dict[str, Any]]] = {
    "baro": _baro, "nsigma": _nsigma, "circa": _circa, "rcaeval-baro": _rcaeval_baro}


def rank(method: str, case_dir: Path) -> list[str]:
    """`method`'s ranking of the case in `case_dir`, best first."""
    case_dir = Path(case_dir)
    if method == "team":
        team = json.loads((case_dir / "case.json").read_text()).get("team")
        if team is None:
            raise MethodError("the run has no team diagnosis (a run without agents, or made before it was recorded)")
        return [c["component"] for c in team["candidates"]]
    from RCAEval.utility import read_metrics

    df = read_metrics(str(case_dir))
    inject = int((case_dir / "inject_time.txt").read_text().split()[0])
    return [str(r) for r in RUNNERS[method](df, inject)["ranks"] if r != "time"]


def one_thread() -> None:
    """A worker: one BLAS thread (K workers on K cores), and Ctrl-C left to the parent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - sklearn brings threadpoolctl
        pass


def quiet_warnings() -> None:
    """The packages print warnings of their own (pandas, sklearn); a score's output is the table."""
    import warnings

    warnings.filterwarnings("ignore")
    if not sys.warnoptions:
        os.environ["PYTHONWARNINGS"] = "ignore"
