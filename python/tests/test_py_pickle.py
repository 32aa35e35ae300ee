"""Decorated functions pickle like functions: by reference to their module and qualified name.
Process pools (multiprocessing, concurrent.futures) and MPI pools pickle the functions they run,
so a decorated worker must travel like an undecorated one."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import multiprocessing
import os
import pickle

import pytest
from decorated import workers
from rankscope import _native
from rankscope.bundle import marker

KINDS = {
    "marker function": workers.square,
    "profile function": workers.profiled_square,
    "marker generator": workers.count_up,
    "profile generator": workers.profiled_count_up,
    "marker coroutine": workers.doubled,
    "profile coroutine": workers.profiled_doubled,
    "marker method (unbound)": workers.Scaler.scale,
}


@pytest.mark.parametrize("name", list(KINDS))
def test_decorated_functions_pickle_by_reference(name):
    func = KINDS[name]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(func, protocol)) is func
    assert copy.copy(func) is func
    assert copy.deepcopy(func) is func


def test_native_wrapper_reduces_to_its_qualified_name():
    assert type(workers.square) is _native.Wrapped
    assert workers.square.__reduce__() == "square"
    assert workers.Scaler.scale.__reduce__() == "Scaler.scale"


def test_bound_methods_and_partials_of_decorated_functions_pickle():
    scaler = workers.Scaler(3)
    for bound in (scaler.scale, scaler.profiled_scale):
        again = pickle.loads(pickle.dumps(bound))
        assert again(5) == 15 and again.__self__.factor == 3
    part = pickle.loads(pickle.dumps(functools.partial(workers.add, 10)))
    assert part.func is workers.add and part(5) == 15
    deep = copy.deepcopy(functools.partial(workers.square, 4))
    assert deep.func is workers.square and deep() == 16


def test_round_tripped_wrappers_still_measure_and_run():
    gen = pickle.loads(pickle.dumps(workers.count_up))
    assert list(gen(3)) == [0, 1, 2]
    coro = pickle.loads(pickle.dumps(workers.profiled_doubled))
    assert asyncio.run(coro(4)) == 8


def test_unreachable_wrappers_fail_as_the_undecorated_function_does():
    def local() -> int:
        return 1

    with pytest.raises(Exception) as undecorated:
        pickle.dumps(local)
    with pytest.raises(type(undecorated.value), match="local"):
        pickle.dumps(marker(["wall_clock"])(local))
    # The raw function behind a decorator is shadowed by its wrapper: not the same object.
    with pytest.raises(pickle.PicklingError, match="not the same object"):
        pickle.dumps(workers.square.__wrapped__)


@pytest.fixture
def quiet_children(monkeypatch):
    """Spawned children import rankscope afresh: keep them from writing outputs at exit."""
    monkeypatch.setenv("RANKSCOPE_AUTO_OUTPUT", "false")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pool_maps_decorated_functions(method, quiet_children):
    ctx = multiprocessing.get_context(method)
    numbers = list(range(8))
    expected = [workers.plain_square(i) for i in numbers]
    with ctx.Pool(2) as pool:
        assert pool.map(workers.plain_square, numbers) == expected
        assert pool.map(workers.square, numbers) == expected
        assert pool.map(workers.profiled_square, numbers) == expected
        assert pool.map(functools.partial(workers.add, 1), numbers) == [i + 1 for i in numbers]
        assert pool.map(workers.Scaler(2).scale, numbers) == [2 * i for i in numbers]
        assert pool.starmap(workers.listed, [(workers.count_up, 3)]) == [[0, 1, 2]]
        assert pool.starmap(workers.listed, [(workers.profiled_count_up, 2)]) == [[0, 1]]
        children = set(pool.map(workers.pid, range(4), chunksize=1))
    assert os.getpid() not in children  # the calls really crossed a process boundary


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_executor_runs_decorated_functions(method, quiet_children):
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        assert list(ex.map(workers.square, range(6))) == [i * i for i in range(6)]
        assert ex.submit(workers.profiled_square, 7).result() == 49
        assert ex.submit(workers.Scaler(5).scale, 2).result() == 10
