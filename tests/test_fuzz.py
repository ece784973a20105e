"""A seeded fuzzer over the library's scenarios (opstwin/bench/fuzz.py): no mutant may print a
traceback or hang. The fast test validates a couple of hundred mutants; the slow one over a
thousand (the README's figures come from `opstwin bench fuzz`, the same code)."""

from __future__ import annotations

import json

import pytest

from opstwin.bench.fuzz import mutants, run_fuzz


def test_mutants_are_a_pure_function_of_the_seed():
    assert list(mutants(30, seed=4)) == list(mutants(30, seed=4))
    assert list(mutants(30, seed=4)) != list(mutants(30, seed=5))


def check(result: dict, count: int) -> None:
    assert result["tracebacks"] == 0 and result["hangs"] == 0, result["findings"]
    assert result["clean_errors"] + result["valid"] == count
    assert result["clean_errors"] > count // 2 and result["valid"] > 0  # the mutants do break things, not all


def test_two_hundred_mutants_give_clean_errors_only():
    check(run_fuzz(200, seed=12, timeout=20.0), 200)


@pytest.mark.slow  # about 30 s
def test_twelve_hundred_mutants_give_clean_errors_only():
    check(run_fuzz(1200, seed=1, timeout=20.0), 1200)


def test_bench_fuzz_prints_the_figures(cli):
    result = cli("bench", "fuzz", "--mutants", "20", "--seed", "3")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["files"] == 20 and figures["tracebacks"] == 0 and figures["hangs"] == 0
    assert "fuzz: 20 files," in result.stderr
