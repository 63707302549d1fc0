"""The tracer: spans cost nothing without a recorder; a recorder sums exclusive seconds per span
name, honours its transparency rule, stops inside ``suspended()``, and follows the context."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from market.tracing import Recorder, active_recorder, recording, span, suspended, traced

TICK = 0.03  # seconds slept by the spans below; the checks allow for a loaded machine


def _sleep(seconds: float = TICK) -> None:
    time.sleep(seconds)


@traced("test.leaf")
def leaf(value: int) -> int:
    """A traced function."""
    _sleep()
    return value + 1


def test_spans_are_no_ops_without_a_recorder():
    assert active_recorder() is None
    with span("test.outer"):
        assert leaf(1) == 2
    assert active_recorder() is None


def test_traced_keeps_the_function_name_and_docstring():
    assert leaf.__name__ == "leaf"
    assert leaf.__doc__ == "A traced function."


def test_recorder_counts_exclusive_time_per_span_name():
    with recording() as recorder:
        with span("test.outer"):
            _sleep()
            leaf(0)
            leaf(0)
    assert set(recorder.seconds) == {"test.outer", "test.leaf"}
    assert recorder.calls == {"test.outer": 1, "test.leaf": 2}
    assert TICK * 0.9 <= recorder.seconds["test.outer"] < 2 * TICK
    assert 2 * TICK * 0.9 <= recorder.seconds["test.leaf"] < 4 * TICK
    assert recorder.total() == pytest.approx(sum(recorder.seconds.values()))


def test_time_between_spans_is_nobodys():
    with recording() as recorder:
        _sleep()
        leaf(0)
    assert list(recorder.seconds) == ["test.leaf"]
    assert recorder.seconds["test.leaf"] < 2 * TICK


def test_a_transparent_span_leaves_its_time_with_the_span_around_it():
    recorder = Recorder(transparent=lambda outer, inner: outer == "test.outer" and inner == "test.leaf")
    with recording(recorder):
        with span("test.outer"):
            leaf(0)
        leaf(0)  # at the top level the rule does not apply
    assert recorder.calls == {"test.outer": 1, "test.leaf": 1}
    assert recorder.seconds["test.outer"] >= TICK * 0.9


def test_transparency_is_judged_against_the_innermost_recorded_span():
    recorder = Recorder(transparent=lambda outer, inner: inner == "test.skip")
    with recording(recorder):
        with span("test.outer"):
            with span("test.skip"):
                leaf(0)  # its parent is test.outer: test.skip was never opened as a frame
    assert set(recorder.seconds) == {"test.outer", "test.leaf"}
    assert recorder.seconds["test.outer"] < TICK * 0.5


def test_the_top_level_is_offered_to_the_rule_as_none():
    seen = []
    recorder = Recorder(transparent=lambda outer, inner: seen.append((outer, inner)) or False)
    with recording(recorder):
        with span("test.outer"):
            leaf(0)
    assert seen == [(None, "test.outer"), ("test.outer", "test.leaf")]


def test_suspended_records_nothing_and_leaves_the_time_with_the_open_span():
    with recording() as recorder:
        with span("test.outer"):
            with suspended():
                assert active_recorder() is None
                leaf(0)
            assert active_recorder() is recorder
    assert list(recorder.seconds) == ["test.outer"]
    assert recorder.seconds["test.outer"] >= TICK * 0.9


def test_an_inner_recording_starts_a_new_trace():
    with recording() as outer:
        with span("test.outer"):
            with recording() as inner:
                leaf(0)
    assert list(inner.seconds) == ["test.leaf"]
    assert list(outer.seconds) == ["test.outer"]
    assert outer.seconds["test.outer"] >= TICK * 0.9  # the inner trace's time is not subtracted


def test_a_span_ended_by_an_exception_is_recorded():
    with recording() as recorder:
        with pytest.raises(ZeroDivisionError):
            with span("test.outer"):
                1 / 0
        leaf(0)
    assert recorder.calls == {"test.outer": 1, "test.leaf": 1}


def test_traced_methods_bind_self():
    class Store:
        @traced("test.method")
        def put(self, data: bytes) -> int:
            return len(data)

    with recording() as recorder:
        assert Store().put(b"abc") == 3
    assert recorder.calls == {"test.method": 1}


def test_a_subclass_files_the_seconds_elsewhere_too():
    class ByPhase(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.phase = "a"
            self.by_phase: dict[tuple[str, str], float] = {}

        def add(self, name: str, seconds: float) -> None:
            super().add(name, seconds)
            self.by_phase[(self.phase, name)] = self.by_phase.get((self.phase, name), 0.0) + seconds

    recorder = ByPhase()
    with recording(recorder):
        leaf(0)
        recorder.phase = "b"
        leaf(0)
    assert set(recorder.by_phase) == {("a", "test.leaf"), ("b", "test.leaf")}


def test_recording_follows_the_context_not_the_process():
    results: dict[str, Recorder | None] = {}

    def work(key: str) -> None:
        results[key] = active_recorder()
        leaf(0)

    with recording() as recorder:
        plain = threading.Thread(target=work, args=("plain",))
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(work, "copied"))
        for t in (plain, copied):
            t.start()
            t.join()
    assert results == {"plain": None, "copied": recorder}
    assert recorder.calls == {"test.leaf": 1}


def test_threads_recording_into_one_recorder_lose_nothing():
    with recording() as recorder:
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(lambda: [leaf(0) for _ in range(3)],))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert recorder.calls == {"test.leaf": 12}
