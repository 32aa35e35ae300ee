"""Call capture, per rank: callmonitor's ``@intercept`` with every rank in its own folder.

``@intercept`` saves the inputs of each call of a function (positional and keyword arguments,
and the function's argspec) so that the call can be loaded and replayed later::

    from rankscope.capture import intercept, load

    @intercept
    def solve(matrix, tol=1e-6, *, method="cg"):
        ...

    solve(a, 1e-8, method="gmres")      # saved as call 1

    db = load("rankscope-output-calls/rank-0")
    args, kwargs = db.get("solve", 1)    # (a, 1e-8), {"method": "gmres"}
    db.replay("solve", 1, solve)         # solve(*args, **kwargs)

Where
-----
``<output_path>-calls/rank-<N>/<function>/<call number>/`` where ``output_path`` is the setting
(``rankscope-output`` by default), ``N`` the rank the launcher gave this process (0 without a
launcher), ``<function>`` the function's ``__qualname__`` and call numbers start at 1. The
captures sit beside the output folder, not in it: that folder is claimed by rank 0 at exit and
a run never writes into an existing one. A folder that exists is never overwritten: the rank
folder is claimed once per process, ``rank-<N>``, else ``rank-<N>-1``, ``rank-<N>-2``, ...
(as callmonitor suffixes its root); two functions of one qualified name in different modules
get ``<qualname>`` and ``<qualname>-1``.

What is saved
-------------
Per call, ``call.pkl`` (what each argument is and where it is, and the argspec), numpy arrays
as ``arg_<position or keyword>.npy`` (numpy is imported only if the program uses it), values of
a type registered with ``REGISTRY.add(type, HandlerClass)`` by the handler, everything else
inside ``call.pkl`` by pickle. A value that cannot be saved is loaded back as an
:class:`Unsaved` (its ``repr`` and the reason): the program's call goes on regardless.
Handlers are looked up by the value's type (then its base classes) at each call.

Limits
------
Per function, the first ``capture_max_calls`` calls (setting, default 100) are saved, while
their inputs stay within ``capture_max_bytes`` (default 64 MiB: the first call that would go
over is not saved, nor any after it; a custom handler's files are counted after it wrote
them); later calls are only counted. ``<function>/summary.json`` says how many calls there
were, how many were saved and skipped (and why); it is written at the first call, when a limit
is first reached, and at exit (and by ``load`` in the capturing process). ``repr(load(path))``
shows the same summary.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any, Callable, NamedTuple, TypeVar

from . import _native, settings

F = TypeVar("F", bound=Callable[..., Any])

CALL_FILE = "call.pkl"
SUMMARY_FILE = "summary.json"


class Handler:
    """Saves and loads arguments of one type (register it with ``REGISTRY.add``). ``target`` is
    the argument's position or keyword, ``data`` its value: ``save(path)`` writes ``data``
    into the call's folder ``path``, ``load(path)`` sets ``data`` from it.
    ``accumulator_done()`` is called once at exit for every handler class that saved
    something (to flush what a handler gathers across calls)."""

    def __init__(self, target: str, data: Any = None) -> None:
        self.target = target
        self.data = data

    def save(self, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__}.save")

    def load(self, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__}.load")

    @classmethod
    def accumulator_done(cls) -> None:
        """Nothing to flush by default."""


class NumpyHandler(Handler):
    """numpy arrays as ``arg_<target>.npy`` (``np.save``, no pickle inside)."""

    def save(self, path: str) -> None:
        import numpy as np

        np.save(os.path.join(path, f"arg_{self.target}.npy"), self.data, allow_pickle=False)

    def load(self, path: str) -> None:
        import numpy as np

        self.data = np.load(os.path.join(path, f"arg_{self.target}.npy"), allow_pickle=False)


class Registry:
    """Which handler class saves values of which type (``REGISTRY``, the only instance)."""

    def __init__(self) -> None:
        self._handlers: dict[type, type[Handler]] = {}
        # Known without importing the module: used once the program has made such a value.
        self._by_name: dict[tuple[str, str], type[Handler]] = {("numpy", "ndarray"): NumpyHandler}

    def add(self, kind: type, handler: type[Handler]) -> None:
        """Values of type ``kind`` (and its subclasses) are saved by ``handler`` from the next
        call on."""
        if not (isinstance(handler, type) and issubclass(handler, Handler)):
            raise TypeError(
                f"REGISTRY.add: the handler must be a subclass of rankscope.capture.Handler, "
                f"got {handler!r}"
            )
        self._handlers[kind] = handler

    def lookup(self, value: Any) -> type[Handler] | None:
        """The handler class for ``value``, by its type then its base classes; None: pickle."""
        for cls in type(value).__mro__:
            found = self._handlers.get(cls) or self._by_name.get((cls.__module__, cls.__qualname__))
            if found is not None:
                return found
        return None

    def __repr__(self) -> str:
        rows = [f"    {k!r}: {v!r}" for k, v in self._handlers.items()]
        rows += [f"    '{m}.{n}': {v!r}" for (m, n), v in self._by_name.items()]
        return "{\n" + "\n".join(rows) + "\n}"


REGISTRY = Registry()


class Unsaved(NamedTuple):
    """An argument that could not be saved: its ``repr`` and why."""

    text: str
    reason: str


class _Saved(NamedTuple):
    """How one argument was saved: ``how`` is "pickle" (``value`` is its pickle),
    "handler" (``value`` is the handler class), or "unsaved" (``value`` is an Unsaved)."""

    how: str
    value: Any


def _argspec(func: Callable[..., Any]) -> dict[str, Any] | None:
    """The argspec as JSON-able data (defaults as their repr); None when Python cannot say."""
    try:
        spec = inspect.getfullargspec(func)
    except TypeError:
        return None
    return {
        "args": spec.args,
        "varargs": spec.varargs,
        "varkw": spec.varkw,
        "defaults": None if spec.defaults is None else [repr(d) for d in spec.defaults],
        "kwonlyargs": spec.kwonlyargs,
        "kwonlydefaults": None
        if spec.kwonlydefaults is None
        else {k: repr(v) for k, v in spec.kwonlydefaults.items()},
    }


def _claim(base: Path) -> Path:
    """Creates and returns ``base``, or ``base-1``, ``base-2``, ... when it exists."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        candidate = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1


def calls_root() -> Path:
    """``<output_path>-calls``: where every rank's captures go (see the module doc)."""
    out = Path(os.path.abspath(settings.get("output_path")))
    return out.with_name(out.name + "-calls")


class _Folder:
    """This process's rank folder, claimed at its first capture, and again in a forked child
    or after ``output_path`` changed."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._key: tuple[int, Path] | None = None
        self._lock = threading.Lock()

    def get(self) -> Path:
        key = (os.getpid(), calls_root())
        with self._lock:
            if self._path is None or self._key != key:
                rank = int(_native.world()["rank"])
                self._path = _claim(key[1] / f"rank-{rank}")
                self._key = key
            return self._path


_FOLDER = _Folder()


def rank_folder() -> Path:
    """The folder this process captures into (``<output_path>-calls/rank-<N>``, or its
    ``-1``, ``-2``, ... when that existed), created now if no call was captured yet."""
    return _FOLDER.get()


_HANDLERS_USED: set[type[Handler]] = set()


class _Capture:
    """The capture state of one decorated function."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.module = getattr(func, "__module__", None) or "?"
        self.qualname = getattr(func, "__qualname__", None) or repr(func)
        self.argspec = _argspec(func)
        self.lock = threading.Lock()
        self.folder: Path | None = None
        self.rank_folder: Path | None = None
        self.pid = -1
        self.calls = self.saved = self.bytes = 0
        self.skipped_calls = self.skipped_bytes = self.failed = 0

    def record(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Saves one call's inputs, or only counts it past the limits. Never raises."""
        with self.lock:
            try:
                self._record(args, kwargs)
            except Exception as e:  # noqa: BLE001 - capture must never break the program
                self.failed += 1
                print(f"rankscope.capture: {self.qualname}: call not saved: {e}", file=sys.stderr)

    def _record(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        max_calls = settings.get("capture_max_calls")
        if self.pid == os.getpid() and (self.saved >= max_calls or self.skipped_bytes):
            self.calls += 1  # past a limit: counting only, cheaply (no folder, no pickling)
            self._skip(over_bytes=self.saved < max_calls)
            return
        rank_folder = _FOLDER.get()
        if rank_folder != self.rank_folder:  # first call, a forked child, a new output_path
            self.folder = _claim(rank_folder / self.qualname)
            self.rank_folder = rank_folder
            self.pid = os.getpid()
            self.calls = self.saved = self.bytes = 0
            self.skipped_calls = self.skipped_bytes = self.failed = 0
        assert self.folder is not None
        self.calls += 1
        first = self.calls == 1
        max_bytes = settings.get("capture_max_bytes")
        if self.saved >= max_calls:
            self._skip(over_bytes=False)
            return
        targets = [(str(i), v) for i, v in enumerate(args)] + list(kwargs.items())
        plan, size = self._plan(targets)
        if self.bytes + size > max_bytes:
            self._skip(over_bytes=True)
            return
        path = self.folder / str(self.calls)
        path.mkdir()
        descriptors = {}
        for target, saved in plan.items():
            if saved.how == "handler":
                handler = saved.value[0](target, saved.value[1])
                handler.save(str(path))
                _HANDLERS_USED.add(saved.value[0])
                descriptors[target] = _Saved("handler", saved.value[0])
            else:
                descriptors[target] = saved
        body = pickle.dumps(
            {
                "args": [descriptors[str(i)] for i in range(len(args))],
                "kwargs": {k: descriptors[k] for k in kwargs},
                "argspec": self.argspec,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        (path / CALL_FILE).write_bytes(body)
        self.saved += 1
        self.bytes += sum(f.stat().st_size for f in path.iterdir())
        if first or self.saved == max_calls:
            self.write_summary()

    def _skip(self, over_bytes: bool) -> None:
        """Counts a call not saved; the summary says so from the first one."""
        if over_bytes:
            self.skipped_bytes += 1
        else:
            self.skipped_calls += 1
        if self.skipped_calls + self.skipped_bytes == 1:
            self.write_summary()

    def _plan(self, targets: list[tuple[str, Any]]) -> tuple[dict[str, _Saved], int]:
        """How each argument will be saved, and the bytes that takes (handlers' own files are
        counted once written, except numpy arrays whose size is known)."""
        plan: dict[str, _Saved] = {}
        size = 0
        for target, value in targets:
            handler = REGISTRY.lookup(value)
            if handler is not None:
                plan[target] = _Saved("handler", (handler, value))
                size += int(getattr(value, "nbytes", 0))
                continue
            try:
                pickled = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                size += len(pickled)
                plan[target] = _Saved("pickle", pickled)
            except Exception as e:  # noqa: BLE001 - any pickling failure: keep the repr
                plan[target] = _Saved("unsaved", Unsaved(_safe_repr(value), f"{e}"))
        return plan, size

    def summary(self) -> dict[str, Any]:
        return {
            "function": self.qualname,
            "module": self.module,
            "calls": self.calls,
            "saved": self.saved,
            "skipped": self.skipped_calls + self.skipped_bytes,
            "skipped_over_max_calls": self.skipped_calls,
            "skipped_over_max_bytes": self.skipped_bytes,
            "failed": self.failed,
            "bytes_saved": self.bytes,
            "max_calls": settings.get("capture_max_calls"),
            "max_bytes": settings.get("capture_max_bytes"),
            "argspec": self.argspec,
        }

    def write_summary(self) -> None:
        if self.folder is None or self.pid != os.getpid():  # a forked child's copy
            return
        tmp = self.folder / f".{SUMMARY_FILE}.tmp"
        tmp.write_text(json.dumps(self.summary(), indent=1) + "\n")
        tmp.replace(self.folder / SUMMARY_FILE)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__
        return f"<{type(value).__qualname__} object>"


_CAPTURES: list[_Capture] = []


def intercept(func: F) -> F:
    """Decorator: saves the inputs of each call of ``func`` (see the module doc); the call, its
    result and its exceptions are the function's own. The wrapper keeps ``func``'s name,
    docstring and signature, and pickles by reference like ``func``."""
    capture = _Capture(func)
    _CAPTURES.append(capture)

    @functools.wraps(func)
    def intercepted(*args: Any, **kwargs: Any) -> Any:
        capture.record(args, kwargs)
        return func(*args, **kwargs)

    intercepted.__rankscope_capture__ = capture  # type: ignore[attr-defined]
    return intercepted  # type: ignore[return-value]


def _write_summaries() -> None:
    """Brings every ``summary.json`` of this process up to date."""
    for capture in _CAPTURES:
        with capture.lock:
            try:
                capture.write_summary()
            except OSError as e:
                print(f"rankscope.capture: {capture.qualname}: {e}", file=sys.stderr)


@atexit.register
def _at_exit() -> None:
    _write_summaries()
    for handler in list(_HANDLERS_USED):
        handler.accumulator_done()


class Database:
    """The captures of one rank folder (``load(path)``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.functions: dict[str, dict[str, Any]] = {}
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            calls = sorted(
                int(c.name)
                for c in folder.iterdir()
                if c.name.isdigit() and (c / CALL_FILE).exists()  # a failed save has none
            )
            summary_file = folder / SUMMARY_FILE
            summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
            summary["saved_calls"] = calls
            summary["folder"] = folder.name
            self.functions[folder.name] = summary

    def calls(self, function: str) -> list[int]:
        """The numbers of the saved calls of ``function``."""
        return list(self._function(function)["saved_calls"])

    def _function(self, function: str) -> dict[str, Any]:
        """By folder name (the qualified name), or by plain name when only one function has it
        (``solve`` for ``main.<locals>.solve``)."""
        if function in self.functions:
            return self.functions[function]
        same = [name for name in self.functions if name.rsplit(".", 1)[-1] == function]
        if len(same) == 1:
            return self.functions[same[0]]
        known = ", ".join(self.functions) or "none"
        raise KeyError(f"no captured function {function!r} in {self.path} (captured: {known})")

    def get(self, function: str, n: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` of call ``n`` of ``function`` (numpy arrays and handlers'
        values loaded back; register custom handlers before)."""
        info = self._function(function)
        if n not in info["saved_calls"]:
            raise KeyError(
                f"call {n} of {function!r} was not saved (saved calls: "
                f"{_ranges(info['saved_calls'])}; calls made: {info.get('calls', '?')}, "
                f"skipped past the limits: {info.get('skipped', '?')})"
            )
        path = self.path / info["folder"] / str(n)
        body = pickle.loads((path / CALL_FILE).read_bytes())
        args = tuple(_load(str(i), d, path) for i, d in enumerate(body["args"]))
        kwargs = {k: _load(k, d, path) for k, d in body["kwargs"].items()}
        return args, kwargs

    def replay(self, function: str, n: int, func: Callable[..., Any]) -> Any:
        """Calls ``func(*args, **kwargs)`` with the inputs of call ``n`` of ``function``."""
        args, kwargs = self.get(function, n)
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        rows = ["{", f"    path: {self.path}"]
        for name, info in self.functions.items():
            spec = info.get("argspec") or {}
            rows += [
                f"    {name}: {{",
                f"        calls: {info.get('calls', len(info['saved_calls']))}"
                f" (saved {len(info['saved_calls'])}, skipped {info.get('skipped', 0)})",
                f"        args: {spec.get('args')}",
                f"        defaults: {spec.get('defaults')}",
                "    }",
            ]
        return "\n".join([*rows, "}"])


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return str(numbers)


def _load(target: str, saved: _Saved, path: Path) -> Any:
    if saved.how == "pickle":
        return pickle.loads(saved.value)
    if saved.how == "unsaved":
        return saved.value
    handler = saved.value(target)
    handler.load(str(path))
    return handler.data


def load(path: str | os.PathLike[str]) -> Database:
    """The captures in one rank folder (``<output_path>-calls/rank-<N>``)."""
    _write_summaries()  # this process's own captures may be loaded before its exit
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"rankscope.capture.load: {folder} is not a folder")
    ranks = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("rank-"))
    if ranks:
        raise ValueError(
            f"rankscope.capture.load: {folder} holds the captures of several ranks; "
            f"load one of: {', '.join(ranks)}"
        )
    return Database(folder)


__all__ = [
    "REGISTRY",
    "Database",
    "Handler",
    "NumpyHandler",
    "Registry",
    "Unsaved",
    "calls_root",
    "intercept",
    "load",
    "rank_folder",
]
