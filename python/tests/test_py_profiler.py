"""``profile`` and region names: names that never raise."""

from __future__ import annotations

from rankscope import _native
from rankscope.bundle import marker
from rankscope.profiler import profile
from rankscope.storage import WallClockStorage

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

    def code_named() -> int:
        return 3

    # Code objects with such names (e.g. from undecodable file names) for the profiler and for
    # blocks named after their function.
    code_named.__code__ = code_named.__code__.replace(co_qualname=BAD + "_code", co_name=BAD)
    blocks.__code__ = blocks.__code__.replace(co_name=BAD + "_fn", co_filename=f"/x/{BAD}.py")
    blocks()
    with profile(["wall_clock"]):
        code_named()
    names = {r["name"] for r in WallClockStorage.get()}
    for suffix in ("_key", "_qualname", "_block"):
        assert CLEAN + suffix in names
    assert any(n.startswith(CLEAN + "_code@") for n in names)
    assert sum(n.startswith(f"{CLEAN}_fn@{CLEAN}.py:") for n in names) == 1
