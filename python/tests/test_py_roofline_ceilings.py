"""rankscope.roofline.ceilings(): this host's ceilings from Python, measured (quick) through
the native benchmark, then read back from the per-host cache; a bad cache file raises an error
naming it."""

from __future__ import annotations

import math

import pytest
from rankscope import roofline


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "rankscope"


def test_quick_ceilings_then_the_cache(cache):
    c = roofline.ceilings(quick=True)
    assert c["quick"] is True and c["ranks"] == 1 and c["threads"] >= 1
    peaks = c["peak_gflops"]
    assert all(math.isfinite(v) and v > 0 for v in peaks.values()), peaks
    assert peaks["vector_double"] >= peaks["scalar_double"]
    assert c["bandwidth_gbs"]["l1"] > 0 and c["bandwidth_gbs"]["dram"] > 0
    assert (cache / f"ceilings-{c['host']}.json").exists()
    # The second call reads the cache: the very same numbers.
    assert roofline.ceilings(quick=True) == c
    assert roofline.ceilings(quick=True, refresh=True) != c


def test_a_bad_cache_file_raises_naming_it(cache):
    import socket

    cache.mkdir(parents=True)
    bad = cache / f"ceilings-{socket.gethostname()}.json"
    bad.write_text("[1, 2, 3]")
    with pytest.raises(RuntimeError, match=str(bad)):
        roofline.ceilings(quick=True)
