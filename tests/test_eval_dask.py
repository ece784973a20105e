"""opstwin eval --dask: the same runs on a Dask LocalCluster give the same results as local ones."""

from __future__ import annotations

import pytest
from eval_helpers import SLOW, opstwin, stable_runs, write_tiny

pytestmark = pytest.mark.slow  # a Dask cluster and two evals

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_gives_the_same_results(tmp_path):
    write_tiny(tmp_path)
    local = opstwin(tmp_path, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "local", "-q")
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        res = opstwin(tmp_path, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "dask", "-q",
                      "--dask", cluster.scheduler_address)
    assert res.exit_code == 0, res.output
    assert stable_runs(tmp_path / "dask/results.json") == stable_runs(tmp_path / "local/results.json")
    assert (tmp_path / "dask/timeline-tiny.png").exists() and (tmp_path / "dask/report.md").exists()
