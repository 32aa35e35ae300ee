"""The Python API in one process: settings, marker, profile, components, storage, argparse."""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect

import pytest
import rankscope
from rankscope import settings
from rankscope.bundle import marker
from rankscope.component import TABLE, PeakRss, WallClock, class_name
from rankscope.profiler import profile
from rankscope.storage import WallClockStorage


def rows(name: str) -> list:
    return [r for r in WallClockStorage.get() if r["name"] == name]


# ---- settings ----------------------------------------------------------------------------


def test_every_setting_is_an_attribute_with_its_python_type():
    types = {"bool": bool, "unsigned": int, "text": str, "list": list, "choice": str}
    assert settings.names()
    for name, row in settings.TABLE.items():
        assert isinstance(getattr(settings, name), types[row.kind]), name
    for expected in [
        "verbose",
        "debug",
        "json_output",
        "mpi_thread",
        "dart_output",
        "dart_count",
        "banner",
        "flat_profile",
        "timeline_profile",
        "output_path",
    ]:
        assert expected in settings.TABLE


def test_settings_round_trip_and_conversions():
    before = settings.max_depth
    try:
        settings.max_depth = 40
        assert settings.max_depth == 40 and settings.get_text("max_depth") == "40"
        settings.json_output = False
        assert settings.json_output is False
        settings.json_output = "ON"
        assert settings.json_output is True
        settings.components = ["wall_clock", "peak_rss"]
        assert settings.components == ["wall_clock", "peak_rss"]
        settings.mpi_thread_type = "FUNNELED"
        assert settings.mpi_thread_type == "funneled"
        settings.mpi_thread = False  # as timemory's overview sets it: plain MPI_Init
        assert settings.mpi_thread is False
    finally:
        settings.max_depth = before
        settings.components = ["wall_clock"]
        settings.mpi_thread_type = "multiple"
        settings.mpi_thread = True


def test_unknown_setting_suggests_the_closest():
    with pytest.raises(AttributeError, match="json_output"):
        _ = settings.json_outpt
    with pytest.raises(AttributeError, match="did you mean 'verbose'"):
        settings.verbos = 1


def test_wrong_types_and_values_say_what_is_accepted():
    with pytest.raises(TypeError, match="bool"):
        settings.json_output = 3
    with pytest.raises(TypeError, match="int"):
        settings.verbose = 1.5
    with pytest.raises(ValueError, match="4294967295"):
        settings.verbose = -1
    with pytest.raises(ValueError, match="single, funneled, serialized, multiple"):
        settings.mpi_thread_type = "lots"
    with pytest.raises(ValueError, match="boolean"):
        settings.debug = "maybe"
    assert settings.debug is False


def test_parse_rereads_the_environment(monkeypatch):
    monkeypatch.setenv("RANKSCOPE_DART_COUNT", "7")
    try:
        assert settings.parse() == []
        assert settings.dart_count == 7
    finally:
        settings.dart_count = 1
    monkeypatch.setenv("RANKSCOPE_DART_COUNT", "many")
    with pytest.raises(ValueError, match="RANKSCOPE_DART_COUNT|dart_count"):
        settings.parse()


# ---- marker ------------------------------------------------------------------------------


def test_marker_counts_recursive_calls_and_keeps_results():
    @marker(["wall_clock"], key="py_fib")
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(12) == 144
    counts = sum(r["count"] for r in rows("py_fib"))
    assert counts == 465  # calls of fib(12)
    top = next(r for r in rows("py_fib") if r["depth"] == 0)
    assert top["unit"] == "s" and top["sum"] > 0 and top["min"] <= top["mean"] <= top["max"]


def test_marker_is_transparent():
    def original(a: int, b: str = "x", *rest: float, key: bool = False, **kw: int) -> str:
        """Original doc."""
        return f"{a}{b}{rest}{key}{kw}"

    wrapped = marker(["wall_clock"])(original)
    assert wrapped(1, "y", 2.0, key=True, z=3) == original(1, "y", 2.0, key=True, z=3)
    assert wrapped.__name__ == "original" and wrapped.__doc__ == "Original doc."
    assert wrapped.__qualname__ == original.__qualname__
    assert wrapped.__wrapped__ is original
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert functools.wraps(wrapped)(lambda: None).__name__ == "original"


def test_marker_propagates_exceptions_and_stays_balanced():
    @marker(["wall_clock"], key="py_raises")
    def raises() -> None:
        raise KeyError("boom")

    for _ in range(3):
        with pytest.raises(KeyError, match="boom"):
            raises()
    assert [r["count"] for r in rows("py_raises")] == [3]


def test_marker_on_methods_static_and_class_methods():
    class Thing:
        def __init__(self) -> None:
            self.k = 3

        @marker(["wall_clock"], key="py_method")
        def times(self, x: int) -> int:
            return self.k * x

        @staticmethod
        @marker(["wall_clock"])
        def static(x: int) -> int:
            return x + 1

        @classmethod
        @marker(["wall_clock"])
        def klass(cls, x: int) -> str:
            return cls.__name__ + str(x)

    t = Thing()
    assert t.times(2) == 6 and Thing.times(t, 3) == 9
    assert Thing.static(1) == 2 and Thing.klass(1) == "Thing1"
    assert list(inspect.signature(t.times).parameters) == ["x"]
    assert sum(r["count"] for r in rows("py_method")) == 2


def test_marker_on_generators_measures_each_step():
    @marker(["wall_clock"], key="py_gen")
    def gen(n: int):
        total = 0
        for i in range(n):
            got = yield i
            total += got or 0
        return total

    assert inspect.isgeneratorfunction(gen)
    assert list(gen(4)) == [0, 1, 2, 3]
    g = gen(3)
    assert next(g) == 0 and g.send(5) == 1 and g.send(6) == 2
    with pytest.raises(StopIteration) as stop:
        g.send(7)
    assert stop.value.value == 18
    assert sum(r["count"] for r in rows("py_gen")) == 5 + 4


def test_marker_on_async_functions():
    @marker(["wall_clock"], key="py_async")
    async def work(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def main() -> list:
        return list(await asyncio.gather(work(1), work(2), work(3)))

    assert inspect.iscoroutinefunction(work)
    assert asyncio.run(main()) == [2, 4, 6]
    assert sum(r["count"] for r in rows("py_async")) == 6  # two steps each


def test_marker_as_context_manager_and_unknown_components():
    with marker(["wall_clock", "peak_rss"], key="py_block"):
        sum(range(1000))
    with marker(["wall_clock"], key="py_block"):
        pass
    assert sum(r["count"] for r in rows("py_block")) == 2
    with pytest.raises(ValueError, match="peak_rss"):
        marker(["peak_rs"])


# ---- profile -----------------------------------------------------------------------------


def _leaf(x: int) -> int:
    return x + 1


def test_profile_context_records_every_python_call():
    with profile(["wall_clock"]):
        for i in range(5):
            _leaf(i)
    got = [r for r in WallClockStorage.get() if r["name"].startswith("_leaf@")]
    assert sum(r["count"] for r in got) == 5
    assert not any("__exit__" in r["name"] for r in WallClockStorage.get())


def test_profile_decorator_bare_and_with_components():
    @profile
    def bare(n: int) -> int:
        return sum(_leaf(i) for i in range(n))

    @profile(["wall_clock", "cpu_clock"])
    def listed(n: int) -> int:
        return _leaf(n)

    assert bare(3) == 6 and listed(1) == 2
    assert bare.__name__ == "bare" and inspect.signature(listed) == inspect.signature(
        listed.__wrapped__
    )
    names = {r["name"].split("@")[0] for r in WallClockStorage.get()}
    assert {
        "test_profile_decorator_bare_and_with_components.<locals>.bare",
        "test_profile_decorator_bare_and_with_components.<locals>.listed",
    } <= names


# ---- components --------------------------------------------------------------------------


def test_one_class_per_component():
    import rankscope.component as comp

    for name in TABLE:
        cls = getattr(comp, class_name(name))
        assert cls.kind == name
    assert {"WallClock", "CpuClock", "CpuUtil", "PeakRss", "PageRss"} <= set(comp.__all__)


def test_component_start_stop_get_and_repr():
    wc = WallClock("py_wc")
    wc.start()
    sum(range(10000))
    wc.stop()
    assert wc.get() > 0 and wc.laps == 1 and wc.unit == "s"
    assert "py_wc" in repr(wc) and " s " in repr(wc)
    rss = PeakRss()
    rss.start()
    rss.stop()
    assert rss.unit == "MiB"


def test_component_push_pop_stores_into_the_tree():
    wc = WallClock("py_pushed")
    wc.push()
    for _ in range(3):
        with wc:
            sum(range(100))
    wc.pop()
    [r] = rows("py_pushed")
    assert r["count"] == 1 and r["sum"] == pytest.approx(wc.get(), rel=1e-6)


# ---- storage -----------------------------------------------------------------------------


def test_storage_get_and_dmp_get_without_mpi():
    from rankscope.storage import PeakRssStorage

    with marker(["wall_clock", "peak_rss"], key="py_storage"):
        pass
    [r] = rows("py_storage")
    assert set(r) >= {
        "rank",
        "name",
        "path",
        "depth",
        "metric",
        "unit",
        "count",
        "sum",
        "mean",
        "min",
        "max",
        "stddev",
    }
    assert r["rank"] == 0 and r["path"][-1] == "py_storage"
    assert any(r["name"] == "py_storage" for r in PeakRssStorage.get())
    everything = WallClockStorage.dmp_get()
    assert everything is not None and len(everything) == 1
    assert any(r["name"] == "py_storage" for r in everything[0])


def test_storage_dataframe():
    pd = pytest.importorskip("pandas")
    df = WallClockStorage.to_dataframe()
    assert isinstance(df, pd.DataFrame) and "count" in df.columns and len(df) > 0


# ---- argparse ----------------------------------------------------------------------------


def test_add_arguments_sub_command_sets_settings():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int)
    rankscope.add_arguments(parser)
    try:
        args = parser.parse_args(
            [
                "-n",
                "10",
                "rankscope-config",
                "--enabled",
                "False",
                "--dart-count",
                "4",
                "--components",
                "wall_clock",
                "peak_rss",
            ]
        )
        assert args.n == 10
        assert settings.enabled is False and settings.dart_count == 4
        assert settings.components == ["wall_clock", "peak_rss"]
    finally:
        settings.enabled = True
        settings.dart_count = 1
        settings.components = ["wall_clock"]
    with pytest.raises(SystemExit):
        parser.parse_args(["rankscope-config", "--dart-count", "lots"])
    assert parser.parse_args(["-n", "1"]).n == 1


def test_world_without_launcher_is_rank_zero_of_one():
    w = rankscope.world()
    assert (w["rank"], w["size"]) == (0, 1)
