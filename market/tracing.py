"""Spans: the nodes say what they are doing, a benchmark listens (OpenTelemetry-style, no dependency).

Library code marks its steps with :func:`traced` (a decorator) or :func:`span` (a ``with``
block), each under a stable dotted name (``storage.put``, ``marketplace.submit_update``,
``training.train_local``…). Nothing is measured unless a :class:`Recorder` is installed with
:func:`recording`; without one a span costs a function call and one context-variable read
(a fraction of a microsecond).

A recorder sums each span's *exclusive* time (its wall time minus that of the recorded spans
inside it) per name: the time of a call is charged to the innermost recorded span around it.
A recorder may declare a span *transparent* inside another (``transparent(outer, inner)``
true): such a span is not recorded and its time stays with the span around it, as if it
carried no span at all. :func:`suspended` stops recording for a block (a look at the state that
is nobody's work).

Recording follows the :mod:`contextvars` context: the calling thread and what runs in a copy of
its context (``contextvars.copy_context().run``, asyncio tasks). A thread started plainly runs
in an empty context and records nothing; :class:`Recorder` itself is thread-safe.

    with recording() as recorder:
        run_something()
    recorder.seconds  # {"storage.put": 0.012, "training.train_local": 1.9, ...}
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["Recorder", "Transparent", "active_recorder", "recording", "span", "suspended", "traced"]

F = TypeVar("F", bound=Callable[..., Any])

Transparent = Callable[[str | None, str], bool]
"""``transparent(outer, inner)``: whether span ``inner``, opened directly inside the recorded span
``outer`` (None: inside none), goes unrecorded."""


class Recorder:
    """Exclusive seconds and call counts per span name (thread-safe).

    Subclasses may override :meth:`add` to file the seconds elsewhere as well (by phase, by
    label); it is called once per finished recorded span.
    """

    def __init__(self, *, transparent: Transparent | None = None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._transparent = transparent
        self._lock = threading.Lock()

    def is_transparent(self, outer: str | None, inner: str) -> bool:
        """Whether ``inner`` opened directly inside ``outer`` (None: at the top) goes unrecorded."""
        return self._transparent is not None and self._transparent(outer, inner)

    def add(self, name: str, seconds: float) -> None:
        """Charge ``seconds`` of exclusive time to span ``name``."""
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def total(self) -> float:
        """Exclusive seconds of every recorded span together (no time counted twice)."""
        with self._lock:
            return sum(self.seconds.values())


class _Frame:
    """An open recorded span: its name, its start, the wall time of the recorded spans inside it."""

    __slots__ = ("name", "started", "inner")

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = 0.0
        self.inner = 0.0


_RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("market_tracing_recorder", default=None)
_FRAME: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar("market_tracing_frame", default=None)


class _Span:
    """One span being recorded into ``recorder`` (the context manager :func:`span` returns)."""

    __slots__ = ("recorder", "frame", "parent", "token")

    def __init__(self, recorder: Recorder, name: str) -> None:
        self.recorder = recorder
        self.frame: _Frame | None = _Frame(name)
        self.parent: _Frame | None = None
        self.token: contextvars.Token[_Frame | None] | None = None

    def __enter__(self) -> None:
        frame = self.frame
        assert frame is not None  # a span is entered once
        self.parent = _FRAME.get()
        if self.recorder.is_transparent(None if self.parent is None else self.parent.name, frame.name):
            self.frame = None  # unrecorded: its time stays with the parent
            return
        self.token = _FRAME.set(frame)
        frame.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        frame = self.frame
        if frame is None:
            return
        elapsed = time.perf_counter() - frame.started
        if self.token is not None:
            _FRAME.reset(self.token)
        self.recorder.add(frame.name, elapsed - frame.inner)
        if self.parent is not None:
            self.parent.inner += elapsed


_NO_SPAN = contextlib.nullcontext()


def active_recorder() -> Recorder | None:
    """The recorder spans report to here, or None."""
    return _RECORDER.get()


def span(name: str) -> contextlib.AbstractContextManager[None]:
    """``with span("storage.put"): …``: the block is one span named ``name``."""
    recorder = _RECORDER.get()
    if recorder is None:
        return _NO_SPAN
    return _Span(recorder, name)


def traced(name: str) -> Callable[[F], F]:
    """Decorator: every call of the function is one span named ``name``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            recorder = _RECORDER.get()
            if recorder is None:
                return fn(*args, **kwargs)
            with _Span(recorder, name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@contextlib.contextmanager
def recording(recorder: Recorder | None = None) -> Iterator[Recorder]:
    """Record the spans of the block into ``recorder`` (a new :class:`Recorder` if None); the
    block starts a new trace (spans open around it are not its parents)."""
    recorder = Recorder() if recorder is None else recorder
    recorder_token = _RECORDER.set(recorder)
    frame_token = _FRAME.set(None)
    try:
        yield recorder
    finally:
        _FRAME.reset(frame_token)
        _RECORDER.reset(recorder_token)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Record nothing inside the block; its time stays with the span around it, if any."""
    recorder_token = _RECORDER.set(None)
    frame_token = _FRAME.set(None)
    try:
        yield
    finally:
        _FRAME.reset(frame_token)
        _RECORDER.reset(recorder_token)
