"""Durations and sizes as written in scenario files."""

import math
import re

import pytest

from opstwin.twin.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("5min", 300.0), ("2h", 7200.0), ("1d", 86400.0),
    ("1.5h", 5400.0), (" 30 s ", 30.0), ("10", 10.0), (7, 7.0), (2.5, 2.5), ("2H", 7200.0),
])
def test_durations_become_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, size", [
    ("512MB", 512e6), ("50GB", 50e9), ("2TB", 2e12), ("4KB", 4e3), ("1KiB", 1024.0), ("1.5TiB", 1.5 * 2**40),
    ("50gb", 50e9), ("100", 100.0), (4096, 4096.0),
])
def test_sizes_become_bytes(text, size):
    assert parse_size(text) == pytest.approx(size)


@pytest.mark.parametrize("bad", ["10 parsecs", "banana", "", "-5s", -1, True, None, [10], "10xs"])
def test_bad_durations_are_refused_with_the_units_named(bad):
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(bad)


def test_unknown_duration_unit_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"ms, s, m, h or d"):
        parse_duration("10y")


@pytest.mark.parametrize("bad", ["50 GiGs", "lots", "-1GB", -5, False, "1PB"])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match=r"size"):
        parse_size(bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_numbers_are_neither_durations_nor_sizes(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.parametrize("seconds, text", [
    (86400.0, "1d"), (7200.0, "2h"), (300.0, "5m"), (10.0, "10s"), (90.0, "90s"), (0.5, "500ms"),
])
def test_format_duration_picks_the_largest_exact_unit(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.5, 1.25, 10.0, 3600.5, 86400.0, 123456.789, 1e-4, 1e-7,
                                     0.012094172343643635, 0.1 + 0.2, 7.0000001])
def test_formatted_durations_parse_back_and_match_the_schema_pattern(seconds):
    text = format_duration(seconds)
    assert parse_duration(text) == seconds  # exactly: scenarios survive a JSON round trip
    assert re.fullmatch(r"\s*[0-9.]+\s*(ms|s|m|min|h|d)?\s*", text), text
