"""Telemetry noise: the frame is noisy (binomial errors, latency jitter, per-service levels, stale
samples), the truth and health H are not; the knobs refuse bad values with their field path."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import load
from opstwin.twin.model import Twin
from opstwin.twin.spec import DiurnalSpec, LoadSpec, TelemetrySpec

FLAT = LoadSpec(rps=50, noise=0.0, diurnal=DiurnalSpec(amplitude=0))


def _errorful(small_topology):
    """The small topology with web failing 5% of its requests on its own."""
    data = small_topology.model_dump()
    data["services"][0]["error_rate"] = 0.05
    return type(small_topology).model_validate(data)


def _run(twin: Twin, ticks: int) -> tuple[list, list, list]:
    frames, truths, health = [], [], []
    for _ in range(ticks):
        frames.append(twin.advance())
        truths.append(twin.truth)
        health.append(twin.health)
    return frames, truths, health


def test_error_shares_are_binomial_draws_around_the_truth(small_topology):
    twin = Twin(_errorful(small_topology), FLAT, seed=4, telemetry=TelemetrySpec(noise=1.0, spread=0, scrape_gap=0))
    frames, truths, _ = _run(twin, 300)
    seen = np.array([f.error[0] for f in frames])
    true = np.array([t.error[0] for t in truths])
    assert np.ptp(true) < 1e-12  # a flat load: the true error share does not move
    assert len(np.unique(seen)) > 20  # ... the reported one does
    n = 50 * 10  # web's requests in a tick
    assert seen.mean() == pytest.approx(true[0], rel=0.05)
    assert seen.std() == pytest.approx(np.sqrt(true[0] * (1 - true[0]) / n), rel=0.2)
    counts = seen * n
    assert np.allclose(counts, np.round(counts))  # whole failed requests


def test_latency_jitters_and_p99_more_than_p50(small_topology):
    twin = Twin(small_topology, FLAT, seed=2, telemetry=TelemetrySpec(noise=1.0, spread=0, scrape_gap=0,
                                                                      latency_jitter=0.1))
    frames, truths, _ = _run(twin, 300)
    r50 = np.log([f.p50[0] / t.p50[0] for f, t in zip(frames, truths)])
    r99 = np.log([f.p99[0] / t.p99[0] for f, t in zip(frames, truths)])
    assert r50.std() == pytest.approx(0.1, rel=0.2)
    assert r99.std() > 1.5 * r50.std()
    assert all((f.p99 >= f.p50).all() for f in frames)


def test_stale_samples_repeat_the_previous_report_at_about_the_configured_rate(small_topology):
    twin = Twin(small_topology, LoadSpec(rps=50, noise=0.05), seed=1,
                telemetry=TelemetrySpec(noise=1.0, scrape_gap=0.1))
    frames, _, _ = _run(twin, 600)
    n = len(frames[0].rate)
    assert twin.observer.stale_count / (599 * n) == pytest.approx(0.1, abs=0.025)
    repeats = sum(int(((b.rate == a.rate) & (b.p99 == a.p99)).sum()) for a, b in zip(frames, frames[1:]))
    assert repeats >= twin.observer.stale_count  # every stale sample is the previous tick's values
    for f in frames:  # never NaN: a gap is a repeated sample
        assert np.isfinite(np.concatenate([f.rate, f.p50, f.p99, f.error, f.cpu, f.memory])).all()


def test_health_and_the_truth_do_not_see_the_noise(small_topology):
    exact = Twin(small_topology, LoadSpec(rps=50, noise=0.05), seed=7)
    noisy = Twin(small_topology, LoadSpec(rps=50, noise=0.05), seed=7,
                 telemetry=TelemetrySpec(noise=3.0, scrape_gap=0.2, latency_jitter=0.3))
    fe, te, he = _run(exact, 100)
    fn, tn, hn = _run(noisy, 100)
    assert he == hn
    assert all(np.array_equal(a.p99, b.p99) and np.array_equal(a.error, b.error) for a, b in zip(te, tn))
    assert any(not np.array_equal(a.p99, b.p99) for a, b in zip(fe, fn))
    assert all(a is b for a, b in zip(fe, te))  # without noise the report is the truth


def test_services_get_their_own_noise_levels_from_the_seed(small_topology):
    a = Twin(small_topology, FLAT, seed=5, telemetry=TelemetrySpec(spread=0.5))
    b = Twin(small_topology, FLAT, seed=5, telemetry=TelemetrySpec(spread=0.5))
    c = Twin(small_topology, FLAT, seed=6, telemetry=TelemetrySpec(spread=0.5))
    assert len(np.unique(a.observer.level)) == 3
    assert np.array_equal(a.observer.level, b.observer.level)
    assert not np.array_equal(a.observer.level, c.observer.level)
    fa, fb = _run(a, 50)[0], _run(b, 50)[0]
    assert all(np.array_equal(x.error, y.error) and np.array_equal(x.p99, y.p99) for x, y in zip(fa, fb))


@pytest.mark.parametrize("kwargs, field", [
    ({"noise": -0.1}, "noise"), ({"noise": 11}, "noise"), ({"scrape_gap": 0.6}, "scrape_gap"),
    ({"latency_jitter": -1}, "latency_jitter"), ({"spread": 3}, "spread"), ({"nosie": 1}, "nosie"),
])
def test_telemetry_knobs_are_validated(kwargs, field):
    with pytest.raises(ValidationError) as exc:
        TelemetrySpec(**kwargs)
    assert exc.value.errors()[0]["loc"][0] == field


def test_a_scenario_sets_telemetry_and_a_bad_value_names_its_path(small_scenario):
    text = small_scenario.read_text()
    small_scenario.write_text(text + "telemetry: {noise: 2, scrape_gap: 0.01}\n")
    assert load(small_scenario).telemetry == TelemetrySpec(noise=2, scrape_gap=0.01)
    small_scenario.write_text(text + "telemetry: {noise: 2, scrape_gap: 0.9}\n")
    with pytest.raises(ScenarioError) as exc:
        load(small_scenario)
    assert [p.path for p in exc.value.problems] == ["telemetry.scrape_gap"]


def test_poisson_split_has_the_law_of_a_draw_per_element():
    """One thinned total gives each element Poisson(lam) counts: means and variances match lam, elements
    at 0 are never hit, and small and large rates mix."""
    from opstwin.twin.rng import generator, poisson_split

    lam = np.array([0.0, 0.02, 0.3, 0.0, 2.0, 7.5])
    rng = generator(3, "test")
    counts = np.zeros((4000, len(lam)))
    for k in range(len(counts)):
        at, c = poisson_split(rng, lam)
        assert np.all(np.diff(at) > 0) and np.all(c > 0)
        counts[k, at] = c
    assert not counts[:, [0, 3]].any()
    se = np.sqrt(lam / len(counts))
    assert np.all(np.abs(counts.mean(axis=0) - lam) <= 5 * se + 1e-12)
    assert np.allclose(counts.var(axis=0)[lam > 0], lam[lam > 0], rtol=0.15)
    assert poisson_split(rng, np.zeros(5))[0].size == 0 and poisson_split(rng, np.zeros(0))[0].size == 0


def _split_by_one_cumsum(rng: np.random.Generator, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The thinned split placed by one cumulative sum over all elements (poisson_split before blocks)."""
    cum = np.cumsum(lam, dtype=np.float64)
    mass = float(cum[-1]) if len(cum) else 0.0
    events = int(rng.poisson(mass)) if mass > 0 else 0
    at = np.searchsorted(cum, rng.random(events) * mass, side="right")
    at[at >= len(cum)] = np.searchsorted(cum, mass, side="left")
    return np.unique(at, return_counts=True)


def test_poisson_split_in_blocks_places_events_as_one_cumulative_sum():
    """A few events among many elements are placed block by block (the 100,000-service case); many by one
    cumulative sum. Both must put each event where one cumulative sum over all elements puts it: sparse
    and dense rates, float32 and float64, zeros at block edges, a short last block."""
    from opstwin.twin.rng import BLOCK, BLOCKS_FROM, poisson_split

    r = np.random.default_rng(7)
    blocks_used = 0
    for trial in range(300):
        n = int(r.integers(1, 40 * BLOCK)) + (BLOCK + 1 if trial % 3 == 0 else 0) + (BLOCKS_FROM if trial % 6 else 0)
        lam = r.random(n) * (r.random(n) < max(r.random(), 0.05))
        mass = r.uniform(0.5, max(1.0, n / (4 * BLOCK))) if trial % 4 else r.uniform(1.0, 5.0 * n / BLOCK)
        lam *= mass / max(lam.sum(), 1e-300)  # few events (blocks) in three trials of four, many in the fourth
        lam[::BLOCK] = 0.0 if trial % 2 else lam[::BLOCK]  # empty first elements of blocks
        lam = lam.astype(np.float32 if trial % 5 == 0 else np.float64)
        events = np.random.default_rng(trial).poisson(lam.sum(dtype=np.float64))
        blocks_used += n >= BLOCKS_FROM and 0 < 4 * events * BLOCK <= n
        at, counts = poisson_split(np.random.default_rng(trial), lam)
        ref_at, ref_counts = _split_by_one_cumsum(np.random.default_rng(trial), lam)
        assert np.array_equal(at, ref_at) and np.array_equal(counts, ref_counts)
        assert np.all(lam[at] > 0) and at.dtype == ref_at.dtype and counts.dtype == ref_counts.dtype
    assert blocks_used > 100  # the block path was taken, not only the whole cumulative sum


def test_poisson_split_in_blocks_has_the_law_of_a_draw_per_element():
    """The block path keeps the law: a group's mean count is its total rate."""
    from opstwin.twin.rng import BLOCK, BLOCKS_FROM, generator, poisson_split

    end = -(-BLOCKS_FROM // BLOCK) * BLOCK  # a short last block of 5 past it
    lam = np.zeros(end + 5)
    groups = [slice(0, 3), slice(BLOCK - 1, BLOCK + 1), slice(5 * BLOCK, 6 * BLOCK), slice(end, None)]
    for g, rate in zip(groups, (0.3, 1.0, 1.5, 0.2)):
        lam[g] = rate / len(lam[g])
    rng = generator(3, "blocks")
    totals = np.zeros((3000, len(groups)))
    for k in range(len(totals)):
        at, c = poisson_split(rng, lam)
        assert np.all(lam[at] > 0)
        hit = np.zeros(len(lam))
        hit[at] = c
        totals[k] = [hit[g].sum() for g in groups]
    want = np.array([0.3, 1.0, 1.5, 0.2])
    assert np.all(np.abs(totals.mean(axis=0) - want) <= 5 * np.sqrt(want / len(totals)))
    assert np.allclose(totals.var(axis=0), want, rtol=0.15)


def test_latency_jitter_drawn_ahead_in_a_thread_is_the_same_as_inline(small_topology, monkeypatch):
    """From THREADED_FROM services the next tick's jitter is drawn in a worker thread; the frames must
    not depend on whether it is (the same stream, drawn in the same order)."""
    from opstwin.twin import worker

    def frames(threshold: int) -> list:
        monkeypatch.setattr(worker, "THREADED_FROM", threshold)
        twin = Twin(_errorful(small_topology), FLAT, seed=5, telemetry=TelemetrySpec(noise=1.0))
        assert (twin.observer.jitter._pool is not None) == (threshold == 0)
        return _run(twin, 40)[0]

    threaded, inline = frames(0), frames(10**9)
    for a, b in zip(threaded, inline):
        assert np.array_equal(a.p50, b.p50) and np.array_equal(a.p99, b.p99) and np.array_equal(a.error, b.error)
        assert a.logs is not None and np.array_equal(a.logs.volume(4), b.logs.volume(4))
    assert len({float(f.p50[0]) for f in threaded}) > 30  # it does jitter ...
    assert sum(f.logs.volume(4).sum() for f in threaded) > 0  # ... and write lines


def test_a_stale_sample_passes_a_shared_read_only_field_on_as_it_is(small_topology):
    """The zero `throttled` the twin shares read-only between ticks without a rate limit is passed on as
    it is when samples go stale (patching it with itself was a copy of it every tick)."""
    twin = Twin(small_topology, LoadSpec(rps=50, noise=0.05), seed=1,
                telemetry=TelemetrySpec(noise=1.0, scrape_gap=0.5))
    frames, truths, _ = _run(twin, 20)
    assert twin.observer.stale_count > 0
    for f, t in zip(frames[1:], truths[1:]):
        assert f.throttled is t.throttled and not f.throttled.flags.writeable and not f.throttled.any()
