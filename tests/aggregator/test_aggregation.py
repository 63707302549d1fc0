"""Streaming weighted FedAvg (aggregator/aggregation.py)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import numpy as np
import pytest

from aggregator.aggregation import FedAvgAccumulator, apply_to, fedavg
from aggregator.exceptions import AggregatorValueError, EmptyAggregationError, UpdateMismatchError


def _updates(n: int, dtype: type = np.float32, seed: int = 0) -> list[tuple[int, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    return [
        (int(rng.integers(1, 500)), {"w": rng.normal(size=(4, 3)).astype(dtype), "b": rng.normal(size=3).astype(dtype)})
        for _ in range(n)
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fedavg_equals_np_average_over_stacked_updates(dtype: type) -> None:
    # Prepare
    items = _updates(9, dtype)
    weights = [w for w, _ in items]
    # Execute
    mean = fedavg(iter(items))
    # Assert
    for name in ("w", "b"):
        stacked = np.stack([u[name].astype(np.float64) for _, u in items])
        expected = np.average(stacked, axis=0, weights=weights)
        assert mean[name].dtype == dtype
        np.testing.assert_allclose(mean[name], expected.astype(dtype), rtol=1e-6 if dtype is np.float32 else 1e-13)


def test_fedavg_output_dtype_follows_the_argument() -> None:
    items = _updates(3, np.float32)
    assert fedavg(items, dtype="float64")["w"].dtype == np.float64
    assert fedavg(_updates(3, np.float64), dtype=np.float32)["b"].dtype == np.float32
    with pytest.raises(AggregatorValueError):
        fedavg(items, dtype="float16")


def test_fedavg_accumulates_float32_in_float64() -> None:
    # 10^4 float32 updates of 1 + 2^-20, each weight 1: float32 summing would drift; float64 does not
    acc = FedAvgAccumulator(dtype=np.float32)
    value = np.float32(1 + 2**-20)
    for _ in range(10_000):
        acc.add(1, {"x": np.full(2, value, dtype=np.float32)})
    assert acc.result()["x"].tolist() == [float(value)] * 2
    assert acc.count == 10_000 and acc.total_weight == 10_000.0


def test_fedavg_of_nothing_is_a_clear_error() -> None:
    with pytest.raises(EmptyAggregationError, match="nothing to aggregate"):
        fedavg(iter([]))
    with pytest.raises(EmptyAggregationError):
        FedAvgAccumulator().result()


@pytest.mark.parametrize(
    "bad",
    [
        (1, {"w": np.zeros((4, 3)), "c": np.zeros(3)}),
        (1, {"w": np.zeros((3, 4)), "b": np.zeros(3)}),
        (1, {"w": np.zeros((4, 3))}),
    ],
)
def test_fedavg_refuses_updates_that_do_not_match_the_first(bad: tuple) -> None:
    with pytest.raises(UpdateMismatchError):
        fedavg([_updates(1)[0], bad])


@pytest.mark.parametrize(
    "bad",
    [
        (0, {"w": np.zeros(2)}),
        (-3, {"w": np.zeros(2)}),
        (float("nan"), {"w": np.zeros(2)}),
        (True, {"w": np.zeros(2)}),
        (1, {"w": np.array([1.0, np.inf])}),
        (1, {"w": np.array(["a", "b"])}),
        (1, {}),
        (1, [np.zeros(2)]),
        (1,),
    ],
)
def test_fedavg_refuses_bad_weights_and_values(bad: tuple) -> None:
    with pytest.raises(AggregatorValueError):
        fedavg([bad])


def test_a_refused_update_leaves_the_sum_untouched() -> None:
    acc = FedAvgAccumulator()
    acc.add(1, {"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(AggregatorValueError):
        acc.add(1, {"a": np.ones(2), "b": np.array([1.0, np.nan])})
    assert acc.count == 1
    np.testing.assert_array_equal(acc.result()["a"], np.ones(2))


def test_apply_to_adds_the_mean_update_in_the_model_dtype() -> None:
    global_state = {"w": np.ones((2, 2), dtype=np.float32), "b": np.zeros(2, dtype=np.float64)}
    delta = {"w": np.full((2, 2), 0.5), "b": np.array([1.0, -1.0], dtype=np.float32)}
    new = apply_to(global_state, delta)
    assert new["w"].dtype == np.float32 and new["b"].dtype == np.float64
    np.testing.assert_array_equal(new["w"], np.full((2, 2), 1.5))
    np.testing.assert_array_equal(new["b"], [1.0, -1.0])
    with pytest.raises(UpdateMismatchError):
        apply_to(global_state, {"w": delta["w"]})
    with pytest.raises(UpdateMismatchError):
        apply_to(global_state, {"w": np.zeros(4), "b": delta["b"]})


def test_fedavg_streams_in_memory_of_a_few_models_not_n() -> None:
    # Prepare: 200 float32 updates of d = 100k (400 kB each, 80 MB stacked), made one at a time
    n, d = 200, 100_000
    one_update = d * 4

    def stream(count: int = n) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        rng = np.random.default_rng(0)
        for i in range(count):
            w = rng.standard_normal((d // 4, 2), dtype=np.float32)
            yield i + 1, {"w": w, "b": rng.standard_normal(d // 2, dtype=np.float32)}

    fedavg(stream(2))  # warm-up: numpy's one-time allocations are not the aggregation's
    # Execute
    tracemalloc.start()
    try:
        mean = fedavg(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Assert: float64 sums (2 x) + scratch (<= 1 x) + two live updates + the result and its
    # temporary: measured 6 x one update; bound 8 x, where stacking would take 200 x
    assert peak < 8 * one_update, f"peak {peak / one_update:.1f} x one update"
    assert mean["w"].shape == (d // 4, 2) and mean["b"].dtype == np.float32
