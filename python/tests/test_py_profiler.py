"""``profile``: C calls named as cProfile names them, the profiled block as a region, one node
per marker-decorated call, nothing of rankscope's own machinery, and names that never raise."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from rankscope import _native, settings
from rankscope.bundle import marker
from rankscope.profiler import profile
from rankscope.storage import WallClockStorage

SLEEP = "{built-in method time.sleep}"
LEN = "{built-in method builtins.len}"
APPEND = "{method 'append' of 'list' objects}"
# What rankscope's own code would look like if it leaked into a profile.
MACHINERY = ("@profiler.py:", "@_wrap.py:", "@bundle.py:", "@_names.py:", "Profiler", "Region")
MACHINERY += ("Started", "enable", "disable", "active", "__enter__", "__exit__", "'generator'")


def under(block: str) -> list[dict]:
    """The records inside the region named ``block`` (not the block's own), each with ``rel``:
    its path below the block."""
    out = []
    for r in WallClockStorage.get():
        path = list(r["path"])
        if block in path[:-1]:
            out.append(dict(r, rel=tuple(path[path.index(block) + 1 :])))
    return out


def block_row(block: str) -> dict:
    [row] = [r for r in WallClockStorage.get() if r["name"] == block]
    return row


def assert_no_machinery(records: list[dict]) -> None:
    for r in records:
        assert not any(m in r["name"] for m in MACHINERY), r["name"]


def _leaf(x: int) -> int:
    return x + 1


# ---- C calls and the block region --------------------------------------------------------


def test_block_of_builtins_is_a_region_holding_the_c_calls():
    def bar() -> int:
        line = sys._getframe().f_lineno + 1
        with profile(["wall_clock"]):
            time.sleep(0.02)
            items: list[int] = []
            items.append(1)
            return line + len(items) - 1

    line = bar()
    block = f"bar@test_py_profiler.py:{line}"
    row = block_row(block)
    assert row["count"] == 1 and row["sum"] >= 0.015
    inside = {r["rel"]: r for r in under(block)}
    assert set(inside) == {(SLEEP,), (APPEND,), (LEN,)}
    assert inside[(SLEEP,)]["count"] == 1 and inside[(SLEEP,)]["sum"] >= 0.015
    assert inside[(SLEEP,)]["sum"] <= row["sum"]


def test_block_key_names_the_region_and_python_calls_nest_inside():
    def outer() -> int:
        return sum(_leaf(i) for i in range(3))

    with profile(["wall_clock"], key="py_prof_keyed"):
        assert outer() == 6
    rel = {r["rel"]: r["count"] for r in under("py_prof_keyed")}
    top = [p for p in rel if len(p) == 1]
    assert [p[0].split("@")[0] for p in top] == [outer.__qualname__]
    leaf = [p for p in rel if p[-1].startswith("_leaf@")]
    assert leaf and sum(rel[p] for p in leaf) == 3
    assert top[0] + ("{built-in method builtins.sum}",) in rel
    assert_no_machinery(under("py_prof_keyed"))


def test_block_time_is_kept_when_c_calls_are_off():
    with profile(["wall_clock"], key="py_prof_no_c", c_calls=False):
        time.sleep(0.02)
        len([1])
    assert block_row("py_prof_no_c")["sum"] >= 0.015
    assert under("py_prof_no_c") == []


def test_profile_c_calls_setting_turns_c_calls_off_and_the_argument_wins():
    assert settings.profile_c_calls is True
    try:
        settings.profile_c_calls = False
        with profile(["wall_clock"], key="py_prof_setting_off"):
            time.sleep(0.001)
            _leaf(1)
        with profile(["wall_clock"], key="py_prof_setting_overridden", c_calls=True):
            time.sleep(0.001)
    finally:
        settings.profile_c_calls = True
    names = [r["rel"][-1] for r in under("py_prof_setting_off")]
    assert len(names) == 1 and names[0].startswith("_leaf@")
    assert [r["rel"] for r in under("py_prof_setting_overridden")] == [(SLEEP,)]


def test_exceptions_raised_in_c_calls_keep_the_tree_balanced():
    def raiser(x: int) -> int:
        raise ValueError(x)

    with profile(["wall_clock"], key="py_prof_c_raise"):
        for _ in range(3):
            with pytest.raises(KeyError):
                {}.pop("missing")
        with pytest.raises(ValueError):
            sorted([2, 1], key=raiser)  # the Python frame raises inside the C call
        _leaf(0)  # after all that, still directly inside the block
    rel = {r["rel"]: r["count"] for r in under("py_prof_c_raise")}
    assert rel[("{method 'pop' of 'dict' objects}",)] == 3
    sorted_node = ("{built-in method builtins.sorted}",)
    assert rel[sorted_node] == 1
    assert any(p[:1] == sorted_node and p[-1].startswith(raiser.__qualname__) for p in rel)
    assert any(len(p) == 1 and p[0].startswith("_leaf@") for p in rel)
    # the block itself closed at its end: a later region is a root again
    with marker(["wall_clock"], key="py_prof_after_raise"):
        pass
    assert block_row("py_prof_after_raise")["depth"] == 0


def test_exception_leaving_the_block_closes_it():
    with pytest.raises(RuntimeError):
        with profile(["wall_clock"], key="py_prof_block_raises"):
            _leaf(1)
            raise RuntimeError("out")
    assert not profile.active()
    assert block_row("py_prof_block_raises")["count"] == 1
    with marker(["wall_clock"], key="py_prof_after_block_raise"):
        pass
    assert block_row("py_prof_after_block_raise")["depth"] == 0


def test_nested_profile_joins_the_outer_one():
    with profile(["wall_clock"], key="py_prof_outer"):
        with profile(["wall_clock", "cpu_clock"], key="py_prof_inner"):
            _leaf(1)
        assert profile.active()
    assert not profile.active()
    assert [r for r in WallClockStorage.get() if r["name"] == "py_prof_inner"] == []
    rel = [r["rel"] for r in under("py_prof_outer")]
    assert len(rel) == 1 and rel[0][0].startswith("_leaf@")


# ---- decorator form ----------------------------------------------------------------------


def test_decorated_function_is_exactly_one_node_per_call():
    @profile(["wall_clock"])
    def decorated(x: int) -> int:
        time.sleep(0.001)
        return _leaf(x)

    assert decorated(1) == 2 and decorated(2) == 3
    mine = [r for r in WallClockStorage.get() if decorated.__qualname__ in r["name"]]
    assert len(mine) == 1 and mine[0]["count"] == 2 and mine[0]["depth"] == 0
    rel = {r["rel"][-1].split("@")[0] for r in under(mine[0]["name"])}
    assert rel == {SLEEP, "_leaf"}
    assert_no_machinery(under(mine[0]["name"]))


def test_decorator_with_key_makes_the_call_a_keyed_block():
    @profile(["wall_clock"], key="py_prof_deco_key")
    def keyed() -> int:
        return _leaf(1)

    assert keyed() == 2 and keyed() == 2
    assert block_row("py_prof_deco_key")["count"] == 2
    rel = [r["rel"] for r in under("py_prof_deco_key")]
    assert [len(p) for p in rel] == [1, 2] and rel[0][0].startswith(keyed.__qualname__)


def test_decorated_c_function_is_one_node_named_after_it():
    nap = profile(["wall_clock"])(time.sleep)
    nap(0.02)
    [row] = [r for r in WallClockStorage.get() if r["name"] == "sleep"]
    assert row["count"] == 1 and row["sum"] >= 0.015 and row["depth"] == 0
    assert under("sleep") == []


def test_generators_and_coroutines_are_one_node_per_step():
    @profile(["wall_clock"])
    def gen(n: int):
        for i in range(n):
            time.sleep(0.001)
            got = yield i
            assert got in (None, 5)

    g = gen(3)
    assert next(g) == 0 and g.send(5) == 1 and list(g) == [2]
    [node] = [r for r in WallClockStorage.get() if r["name"].startswith(gen.__qualname__)]
    assert node["count"] == 4 and node["depth"] == 0  # 3 yields and the final return
    assert [r["rel"] for r in under(node["name"])] == [(SLEEP,)]

    @profile(["wall_clock"])
    async def coro(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert asyncio.run(coro(4)) == 8
    [cnode] = [r for r in WallClockStorage.get() if r["name"].startswith(coro.__qualname__)]
    assert cnode["count"] == 2  # one suspension at the sleep
    assert_no_machinery(under(cnode["name"]) + under(node["name"]))


# ---- marker inside profile ---------------------------------------------------------------


def test_marker_inside_profile_is_one_node_per_call():
    @marker(["wall_clock"], key="py_prof_fib")
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    with profile(["wall_clock"], key="py_prof_fib_block"):
        assert fib(12) == 144
    rel = under("py_prof_fib_block")
    assert {name for r in rel for name in r["rel"]} == {"py_prof_fib"}
    assert max(len(r["rel"]) for r in rel) == 12  # the recursion depth of fib(12)
    assert sum(r["count"] for r in rel) == 465  # calls of fib(12)


def test_marker_frames_are_skipped_per_call_not_per_function():
    def make():
        def twin(x: int) -> int:
            return _leaf(x)

        return twin

    # Same code object, one decorated and one not (closures of one factory).
    decorated, plain = marker(["wall_clock"], key="py_prof_twin")(make()), make()
    with profile(["wall_clock"], key="py_prof_twins"):
        decorated(1)
        plain(1)
        decorated.__wrapped__(2)  # the raw function is a profiled frame like any other
    rel = {r["rel"]: r["count"] for r in under("py_prof_twins")}
    twin_frames = [p for p in rel if p[0].split("@")[0].endswith("make.<locals>.twin")]
    assert [rel[p] for p in twin_frames if len(p) == 1] == [2]
    assert rel[("py_prof_twin",)] == 1
    assert any(p[0] == "py_prof_twin" and p[-1].startswith("_leaf@") for p in rel)


def test_marker_generators_inside_profile_are_one_node_per_step():
    @marker(["wall_clock"], key="py_prof_mgen")
    def mgen(n: int):
        for i in range(n):
            yield len([i])

    with profile(["wall_clock"], key="py_prof_mgen_block"):
        assert list(mgen(3)) == [1, 1, 1]
    rel = {r["rel"]: r["count"] for r in under("py_prof_mgen_block")}
    assert rel == {("py_prof_mgen",): 4, ("py_prof_mgen", LEN): 3}


def test_marker_block_inside_profile_adds_only_its_region():
    with profile(["wall_clock"], key="py_prof_mblock"):
        with marker(["wall_clock"], key="py_prof_mblock_inner"):
            _leaf(1)
    rel = [r["rel"] for r in under("py_prof_mblock")]
    assert rel[0] == ("py_prof_mblock_inner",)
    assert len(rel) == 2 and rel[1][1].startswith("_leaf@")


# ---- names never raise -------------------------------------------------------------------

BAD = "caf\udce9"  # a lone surrogate: not encodable as UTF-8
CLEAN = "caf\\udce9"


def test_region_names_with_lone_surrogates_never_raise():
    @marker(["wall_clock"], key=BAD + "_key")
    def keyed() -> int:
        return 1

    def named() -> int:
        return 2

    named.__qualname__ = BAD + "_qualname"
    assert keyed() == 1 and marker(["wall_clock"])(named)() == 2
    with marker(["wall_clock"], key=BAD + "_block"):
        pass
    assert _native.Region(BAD, ["wall_clock"]).name == CLEAN

    def blocks() -> None:
        with marker(["wall_clock"]):
            pass
        with profile(["wall_clock"]):
            code_named()

    def code_named() -> int:
        return 3

    # Code objects with such names (e.g. from undecodable file names) for the profiler and for
    # blocks named after their function.
    code_named.__code__ = code_named.__code__.replace(co_qualname=BAD + "_code", co_name=BAD)
    blocks.__code__ = blocks.__code__.replace(co_name=BAD + "_fn", co_filename=f"/x/{BAD}.py")
    blocks()
    with profile(["wall_clock"], key=BAD + "_profile"):
        code_named()
    names = {r["name"] for r in WallClockStorage.get()}
    for suffix in ("_key", "_qualname", "_block", "_profile"):
        assert CLEAN + suffix in names
    assert any(n.startswith(CLEAN + "_code@") for n in names)
    assert sum(n.startswith(f"{CLEAN}_fn@{CLEAN}.py:") for n in names) == 2


def test_component_labels_with_lone_surrogates_never_raise():
    from rankscope.component import WallClock

    wc = WallClock(BAD + "_label")
    assert wc.label == CLEAN + "_label"
    wc.push()
    wc.start()
    wc.stop()
    wc.pop()
    assert CLEAN + "_label" in {r["name"] for r in WallClockStorage.get()}
