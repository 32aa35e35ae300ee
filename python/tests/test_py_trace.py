"""The line tracer in this process: hits per line of a known loop, memory per line, the
decorator and the context manager, generators, threads, pickling, and the report's text."""

from __future__ import annotations

import io
import pickle
import threading

import pytest
from rankscope import _native
from rankscope.trace import report, trace

MIB = 1024 * 1024


@trace
def counted_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


@trace(["wall_clock", "page_rss"])
def allocates(n: int) -> int:
    block = [7] * n
    return len(block)


@trace
def yields_squares(n: int):
    for i in range(n):
        yield i * i


def untraced_helper(n: int) -> int:
    kept = 0
    for i in range(n):
        kept += i
    return kept


@trace
def calls_helper() -> int:
    return untraced_helper(10)


def function(qualname: str) -> report.Function:
    """The figures of one traced function in this process's profile now."""
    found = [f for f in report.collect(report.load()).functions if f.qualname == qualname]
    assert len(found) == 1, [f.qualname for f in report.collect(report.load()).functions]
    return found[0]


def hits(func: report.Function) -> dict[str, int]:
    """Hits per line, by the line's source text."""
    return {text: sum(f.laps) for text, f in func.lines.values()}


def test_loop_body_of_100_iterations_has_100_hits():
    assert counted_loop(100) == 4950  # the function's result is unchanged
    func = function("counted_loop")
    assert hits(func) == {
        "total = 0": 1,
        "for i in range(n):": 101,
        "total += i": 100,
        "return total": 1,
    }
    assert sum(func.total.laps) == 1
    body = func.lines[counted_loop.__wrapped__.__code__.co_firstlineno + 4][1]
    assert body.sums["wall_clock"][0] > 0


def test_memory_increment_of_a_line_that_allocates_a_big_list():
    n = 20_000_000  # a list of n pointers: 8 n bytes, about 153 MiB
    assert allocates(n) == n
    func = function("allocates")
    texts = {text: f for text, f in func.lines.values()}
    grew = texts["block = [7] * n"].sums["page_rss"][0]  # display unit: MiB
    assert 0.8 * 8 * n / MIB < grew < 1.3 * 8 * n / MIB
    # The list is freed when the call returns, after the last line: no line shows it.
    assert abs(texts["return len(block)"].sums["page_rss"][0]) < 0.1 * 8 * n / MIB


def test_context_manager_traces_the_block_of_its_function():
    def with_block() -> int:
        before = 1
        with trace():
            inside = before + 1
            inside += 1
        return inside

    assert with_block() == 3
    func = function("test_context_manager_traces_the_block_of_its_function.<locals>.with_block")
    lines = hits(func)
    assert lines["inside = before + 1"] == 1 and lines["inside += 1"] == 1
    assert "before = 1" not in lines and "return inside" not in lines
    assert not trace.active()


def helper_with_a_block(n: int) -> int:
    kept = n
    with trace():
        kept += 1
        kept += 2
    return kept


@trace
def calls_helper_with_a_block() -> int:
    return helper_with_a_block(1)


def test_block_in_a_function_that_started_untraced_while_tracing_was_on():
    # The helper's frame starts untraced (its line events off), then its block is traced.
    assert calls_helper_with_a_block() == 4
    assert hits(function("helper_with_a_block")) == {
        "kept += 1": 1,
        "kept += 2": 1,
        "with trace():": 1,
    }


def test_each_resumption_of_a_generator_is_a_call():
    assert list(yields_squares(5)) == [0, 1, 4, 9, 16]
    func = function("yields_squares")
    assert hits(func)["yield i * i"] == 5
    assert sum(func.total.laps) == 6  # five yields and the final resumption


def test_functions_called_from_a_traced_line_count_in_that_line_only():
    assert calls_helper() == 45
    assert hits(function("calls_helper")) == {"return untraced_helper(10)": 1}
    names = {f.qualname for f in report.collect(report.load()).functions}
    assert "untraced_helper" not in names


def test_exceptions_pass_through_and_close_the_frame():
    @trace
    def fails() -> None:
        raise KeyError("kept")

    with pytest.raises(KeyError, match="kept"):
        fails()
    assert hits(function("test_exceptions_pass_through_and_close_the_frame.<locals>.fails")) == {
        'raise KeyError("kept")': 1
    }
    assert not trace.active()


def test_threads_trace_their_own_calls():
    @trace
    def in_thread(n: int) -> None:
        for _ in range(n):
            pass

    workers = [threading.Thread(target=in_thread, args=(50,)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lines = hits(function("test_threads_trace_their_own_calls.<locals>.in_thread"))
    assert lines["pass"] == 150


def test_decorated_functions_pickle_by_reference_and_keep_their_metadata():
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(counted_loop, protocol)) is counted_loop
    assert counted_loop.__name__ == "counted_loop"
    assert counted_loop.__wrapped__.__code__.co_name == "counted_loop"


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="no_such_component"):
        trace(["no_such_component"])
    with pytest.raises(TypeError, match="Python functions"):
        trace()(len)
    with pytest.raises(TypeError, match="code object"):
        _native.Tracer(["wall_clock"]).add(42)


def test_report_prints_the_source_with_figures_per_line():
    counted_loop(0)  # traced at least once, whichever tests ran before
    before = hits(function("counted_loop")).get("total += i", 0)
    counted_loop(10)
    out = io.StringIO()
    report.print_report(file=out)
    text = out.getvalue()
    assert text.startswith("rankscope line report (rank 0)")
    assert f"Function: counted_loop at {__file__}:" in text
    section = text.split("Function: counted_loop at ")[1].split("Function: ")[0]
    rows = [line.split() for line in section.splitlines()]
    # Line number, hits, time, per hit, % time, then the source.
    body = next(r for r in rows if r[-3:] == ["total", "+=", "i"])
    assert body[1] == str(before + 10)
    assert ["@trace"] in [r[1:] for r in rows]  # the whole source, decorator included


def test_report_of_a_rank_not_in_the_profile_names_the_ranks():
    with pytest.raises(report.ReportError, match=r"rank 7 is not in this profile \(its ranks: 0\)"):
        report.collect(report.load(), rank=7)
