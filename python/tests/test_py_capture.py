"""rankscope.capture: callmonitor's workflow (save each call's inputs, load, replay), per rank."""

from __future__ import annotations

import inspect
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from rankscope import capture, settings
from rankscope.capture import REGISTRY, Handler, Unsaved, intercept, load


@pytest.fixture
def out(tmp_path):
    """Captures go under tmp_path for this test; the limits back to their defaults after."""
    old = {
        name: settings.get(name)
        for name in ("output_path", "capture_max_calls", "capture_max_bytes")
    }
    settings.output_path = str(tmp_path / "out")
    yield tmp_path / "out-calls" / "rank-0"
    for name, value in old.items():
        settings.set(name, value)


class Point:
    """A type pickle is not wanted for: saved by PointHandler as text."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class PointHandler(Handler):
    done = 0

    def save(self, path: str) -> None:
        Path(path, f"point_{self.target}.txt").write_text(f"{self.data.x},{self.data.y}")

    def load(self, path: str) -> None:
        x, y = Path(path, f"point_{self.target}.txt").read_text().split(",")
        self.data = Point(int(x), int(y))

    @classmethod
    def accumulator_done(cls) -> None:
        cls.done += 1


def test_round_trip_of_ints_strings_arrays_and_a_custom_handler(out):
    REGISTRY.add(Point, PointHandler)

    @intercept
    def solve(n, name="x", *, matrix=None, at=None):
        return n

    a = np.arange(12.0).reshape(3, 4)
    assert solve(3, "abc", matrix=a, at=Point(2, 5)) == 3
    assert solve(-7) == -7
    folder = out / solve.__qualname__  # test_round_trip...<locals>.solve
    assert sorted(os.listdir(folder / "1")) == ["arg_matrix.npy", "call.pkl", "point_at.txt"]
    db = load(out)
    args, kwargs = db.get("solve", 1)
    assert args == (3, "abc")
    assert isinstance(kwargs["matrix"], np.ndarray) and np.array_equal(kwargs["matrix"], a)
    assert (kwargs["at"].x, kwargs["at"].y) == (2, 5)
    assert db.get("solve", 2) == ((-7,), {})
    assert db.calls("solve") == [1, 2]
    assert db.replay("solve", 2, lambda n: n * 10) == -70
    text = repr(db)
    assert "solve: {" in text and "calls: 2 (saved 2, skipped 0)" in text
    assert "args: ['n', 'name']" in text and "defaults: [\"'x'\"]" in text
    assert "Point" in repr(REGISTRY) and "numpy.ndarray" in repr(REGISTRY)
    capture._at_exit()
    assert PointHandler.done >= 1


def test_unpicklable_values_come_back_as_unsaved_and_the_call_runs(out):
    @intercept
    def apply(f, x):
        return f(x)

    assert apply(lambda v: v + 1, 1) == 2
    (f, x), _ = load(out).get("apply", 1)
    assert isinstance(f, Unsaved) and "lambda" in f.text and x == 1


def test_exceptions_and_results_are_the_functions_own(out):
    @intercept
    def fails(x):
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 4"):
        fails(4)
    assert load(out).get("fails", 1) == ((4,), {})


def test_an_existing_folder_is_never_overwritten(out):
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("earlier run")

    @intercept
    def twice(x):
        return x

    twice(1)
    assert (out / "keep.txt").read_text() == "earlier run"
    assert not (out / twice.__qualname__).exists()
    suffixed = out.with_name("rank-0-1")
    assert load(suffixed).get("twice", 1) == ((1,), {})


def test_limits_then_counting_only_with_a_summary(out):
    settings.capture_max_calls = 3

    @intercept
    def many(x):
        return x

    for i in range(10):
        many(i)
    db = load(out)
    assert db.calls("many") == [1, 2, 3]
    summary = json.loads((out / many.__qualname__ / "summary.json").read_text())
    assert (summary["calls"], summary["saved"], summary["skipped"]) == (10, 3, 7)
    assert summary["skipped_over_max_calls"] == 7
    assert "calls: 10 (saved 3, skipped 7)" in repr(db)
    with pytest.raises(KeyError, match="call 5 of 'many' was not saved"):
        db.get("many", 5)
    with pytest.raises(KeyError, match="no captured function 'few'"):
        db.get("few", 1)


def test_byte_limit_skips_calls_that_would_go_over(out):
    settings.capture_max_bytes = 3_000_000

    @intercept
    def big(a):
        return a.nbytes

    for _ in range(5):
        big(np.zeros(1_000_000, dtype=np.uint8))  # 1 MB each
    big(np.zeros(10, dtype=np.uint8))  # would fit, but saving has stopped
    assert load(out).calls("big") == [1, 2]  # 3 MB of arrays plus their .npy headers: over
    summary = json.loads((out / big.__qualname__ / "summary.json").read_text())
    assert (summary["calls"], summary["saved"], summary["skipped_over_max_bytes"]) == (6, 2, 4)
    assert 2_000_000 < summary["bytes_saved"] <= 3_000_000


def test_bad_handler_and_bad_path_are_clear_errors(out, tmp_path):
    with pytest.raises(TypeError, match="subclass of rankscope.capture.Handler"):
        REGISTRY.add(int, object)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load(tmp_path / "nowhere")
    (tmp_path / "calls" / "rank-0").mkdir(parents=True)
    (tmp_path / "calls" / "rank-1").mkdir()
    with pytest.raises(ValueError, match="load one of: rank-0, rank-1"):
        load(tmp_path / "calls")


def test_intercepted_functions_keep_their_face_and_pickle(out):
    from decorated import captured

    assert captured.scaled.__name__ == "scaled" and captured.scaled.__doc__ == "x times factor."
    assert list(inspect.signature(captured.scaled).parameters) == ["x", "factor"]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(captured.scaled, protocol)) is captured.scaled
    assert captured.scaled(4) == 8
    assert load(out).get("scaled", 1) == ((4,), {})


def test_each_rank_captures_into_its_own_folder_under_mpirun(tmp_path):
    from test_py_mpi import run

    p = run(
        tmp_path,
        """
    import numpy as np, rankscope
    from rankscope.capture import intercept

    @intercept
    def step(rank, data):
        return data.sum()

    rank = rankscope.world()["rank"]
    for i in range(rank + 1):
        step(rank, np.full(4, i))
    """,
    )
    assert p.returncode == 0, p.stderr
    root = tmp_path / "out-calls"
    assert sorted(os.listdir(root)) == [f"rank-{r}" for r in range(4)]
    for rank in range(4):
        db = load(root / f"rank-{rank}")
        assert db.calls("step") == list(range(1, rank + 2))
        args, _ = db.get("step", rank + 1)
        assert args[0] == rank and np.array_equal(args[1], np.full(4, rank))
