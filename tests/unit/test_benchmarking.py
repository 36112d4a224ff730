"""Unit tests for tinytorch.core.benchmarking: statistics, memory, FLOP formulas against hand counts, tables."""

import itertools
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

import tinytorch.core.benchmarking as bm
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.autograd import is_grad_enabled
from tinytorch.core.benchmarking import (
    BenchmarkResult,
    LatencyStats,
    benchmark_model,
    comparison_table,
    count_flops,
    measure_latency,
    measure_throughput,
    parameter_memory_bytes,
    peak_memory_bytes,
)
from tinytorch.core.dense import MLP, Sequential
from tinytorch.core.layers import Linear, Module, Parameter
from tinytorch.core.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.core.tensor import Tensor


def _fake_clock(monkeypatch: pytest.MonkeyPatch, ticks: list[float]) -> None:
    """Replace the clock benchmarking reads (only there) by a fixed sequence of readings in seconds."""
    it = iter(ticks)
    monkeypatch.setattr(bm, "time", SimpleNamespace(perf_counter=lambda: next(it)))


def _relu(t: Tensor) -> Tensor:
    return t.maximum(0.0)


# --- latency -------------------------------------------------------------------------------------------------

def test_latency_stats_percentiles_by_hand() -> None:
    s = LatencyStats.from_samples(list(range(1, 101)))  # 1..100 ms
    assert s.runs == 100 and s.min == 1.0 and s.max == 100.0 and s.mean == 50.5
    # numpy's linear interpolation: position q/100 * (n - 1) in the sorted samples
    assert s.p50 == pytest.approx(50.5) and s.p90 == pytest.approx(90.1) and s.p99 == pytest.approx(99.01)


def test_latency_stats_tail_is_not_hidden_by_the_median() -> None:
    s = LatencyStats.from_samples([2.0] * 95 + [200.0] * 5)
    assert s.p50 == 2.0 and s.p90 == 2.0 and s.p99 == 200.0
    assert s.mean == pytest.approx(11.9)


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        ([], r"non-empty 1-D sequence of timings, got shape \(0,\)"),
        ([[1.0, 2.0]], r"non-empty 1-D sequence of timings, got shape \(1, 2\)"),
        ([1.0, -0.5], "finite and non-negative"),
        ([1.0, float("nan")], "finite and non-negative"),
    ],
)
def test_latency_stats_rejects_bad_samples(samples, match) -> None:
    with pytest.raises(ValueError, match=match):
        LatencyStats.from_samples(samples)


def test_measure_latency_with_a_fake_clock(monkeypatch) -> None:
    calls = []
    # three timed runs of 1 ms, 3 ms and 2 ms (warm-up calls read no clock)
    _fake_clock(monkeypatch, [0.0, 0.001, 1.0, 1.003, 2.0, 2.002])
    stats = measure_latency(calls.append, "x", warmup=2, runs=3)
    assert calls == ["x"] * 5
    assert stats.runs == 3
    assert stats.p50 == pytest.approx(2.0) and stats.mean == pytest.approx(2.0)
    assert stats.min == pytest.approx(1.0) and stats.max == pytest.approx(3.0)


def test_measure_latency_real_clock_is_ordered() -> None:
    stats = measure_latency(np.sort, np.arange(100), warmup=0, runs=5)
    assert 0.0 <= stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((42,), {}, TypeError, "fn must be callable, got int"),
        ((len, [1]), {"runs": 0}, ValueError, "runs must be an int >= 1, got 0"),
        ((len, [1]), {"runs": True}, ValueError, "runs must be an int >= 1, got True"),
        ((len, [1]), {"warmup": -1}, ValueError, "warmup must be an int >= 0, got -1"),
    ],
)
def test_measure_latency_errors(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        measure_latency(*args, **kwargs)


# --- throughput --------------------------------------------------------------------------------------------

def test_measure_throughput_with_a_fake_clock(monkeypatch) -> None:
    seen = []

    def model(x: Tensor) -> Tensor:
        seen.append((x.shape, is_grad_enabled()))
        return x

    _fake_clock(monkeypatch, [10.0, 12.0])      # 4 timed runs take 2 s in total
    rate = measure_throughput(model, np.zeros((8, 3), dtype=np.float32), runs=4)
    assert rate == pytest.approx(4 * 8 / 2.0)
    assert seen == [((8, 3), False)] * 5        # 1 warm-up + 4 runs, all under no_grad


def test_measure_throughput_on_a_layer() -> None:
    assert measure_throughput(Linear(4, 2), Tensor(np.ones((16, 4), dtype=np.float32)), runs=2) > 0


@pytest.mark.parametrize(
    ("model", "batch", "kwargs", "error", "match"),
    [
        ("nope", np.ones((2, 2)), {}, TypeError, "model must be callable, got str"),
        (_relu, np.float32(1.0), {}, ValueError, "leading batch dimension"),
        (_relu, np.ones((2, 2)), {"runs": 0}, ValueError, "runs must be an int >= 1"),
    ],
)
def test_measure_throughput_errors(model, batch, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        measure_throughput(model, batch, **kwargs)


# --- memory --------------------------------------------------------------------------------------------------

def test_parameter_memory_bytes_counts_dtype_and_bias() -> None:
    assert parameter_memory_bytes(Linear(10, 5)) == (10 * 5 + 5) * 4
    assert parameter_memory_bytes(Linear(10, 5, bias=False)) == 10 * 5 * 4
    net = Sequential(Linear(3, 4), _relu, Linear(4, 2))
    assert parameter_memory_bytes(net) == (3 * 4 + 4 + 4 * 2 + 2) * 4


def test_parameter_memory_bytes_counts_tied_parameters_once() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = Parameter(np.zeros((4, 4), dtype=np.float64))
            self.b = self.a

    assert parameter_memory_bytes(Tied()) == 16 * 8


def test_parameter_memory_bytes_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="model must be a Module, got function"):
        parameter_memory_bytes(_relu)


def test_peak_memory_bytes_sees_numpy_buffers() -> None:
    peak = peak_memory_bytes(np.ones, 1_000_000)        # one 8 MB float64 buffer
    assert 8_000_000 <= peak < 8_500_000
    assert not tracemalloc.is_tracing()


def test_peak_memory_counts_temporaries_that_are_freed() -> None:
    def temp_then_small() -> np.ndarray:
        big = np.ones(500_000)                          # 4 MB, freed before returning
        return big[:10].copy()

    assert peak_memory_bytes(temp_then_small) >= 4_000_000


def test_peak_memory_bytes_inside_an_existing_trace() -> None:
    tracemalloc.start()
    try:
        keep = np.ones(200_000)                         # allocated before: not part of the peak
        peak = peak_memory_bytes(np.zeros, 100_000)
        assert tracemalloc.is_tracing()
        assert 800_000 <= peak < 1_200_000
        del keep
    finally:
        tracemalloc.stop()


def test_peak_memory_bytes_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        peak_memory_bytes(3)


# --- FLOPs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("layer", "shape", "expected"),
    [
        (Linear(3, 4), (2, 3), 2 * 2 * 3 * 4 + 2 * 4),                   # 48 + 8 = 56
        (Linear(3, 4, bias=False), (2, 3), 48),
        (Linear(5, 7), (2, 6, 5), 2 * 12 * 5 * 7 + 12 * 7),              # leading dims multiply
        (Conv2d(1, 2, 3, padding=1), (1, 1, 4, 4), 2 * 32 * 9 + 32),      # out (1, 2, 4, 4): 32 outputs
        (Conv2d(3, 4, 3, stride=2, padding=1, bias=False), (2, 3, 7, 7), 2 * (2 * 4 * 4 * 4) * 27),
        (Conv2d(2, 1, (2, 3)), (1, 2, 3, 5), 2 * 6 * 12 + 6),            # out (1, 1, 2, 3)
        (MultiHeadAttention(8, 2), (1, 5, 8), 4 * (2 * 5 * 64 + 5 * 8) + 4 * 1 * 25 * 8),  # 2720 + 800
        (MultiHeadAttention(4, 4), (3, 2, 4), 4 * (2 * 6 * 16 + 6 * 4) + 4 * 3 * 4 * 4),  # heads don't matter
    ],
)
def test_count_flops_single_layers_by_hand(layer, shape, expected) -> None:
    assert count_flops(layer, shape) == expected


def test_count_flops_sequential_sums_layers() -> None:
    net = Sequential(Linear(4, 8), _relu, Linear(8, 2))
    assert count_flops(net, (3, 4)) == (2 * 3 * 4 * 8 + 3 * 8) + (2 * 3 * 8 * 2 + 3 * 2)  # 216 + 102


def test_count_flops_cnn_propagates_shapes() -> None:
    cnn = Sequential(
        Conv2d(1, 4, 3, padding=1), _relu, MaxPool2d(2),          # (2,1,8,8) -> (2,4,8,8) -> (2,4,4,4)
        Sequential(Conv2d(4, 2, 3), Flatten()),                  # nested: -> (2,2,2,2) -> (2,8)
        Linear(8, 3),
    )
    conv1 = 2 * (2 * 4 * 8 * 8) * 9 + 2 * 4 * 8 * 8
    conv2 = 2 * (2 * 2 * 2 * 2) * 36 + 2 * 2 * 2 * 2
    fc = 2 * 2 * 8 * 3 + 2 * 3
    assert count_flops(cnn, (2, 1, 8, 8)) == conv1 + conv2 + fc


def test_count_flops_mlp_and_parameter_free_layers() -> None:
    mlp = MLP([6, 5, 3], activation=lambda: _relu)
    assert count_flops(mlp, (4, 6)) == (2 * 4 * 6 * 5 + 4 * 5) + (2 * 4 * 5 * 3 + 4 * 3)
    assert count_flops(_relu, (4, 6)) == 0
    assert count_flops(Flatten(), (2, 3, 4)) == 0


def test_count_flops_does_not_record_a_graph() -> None:
    layer = Linear(3, 2)
    count_flops(layer, (1, 3))
    assert layer.weight.grad is None and is_grad_enabled()


def test_count_flops_refuses_unknown_layers_with_parameters() -> None:
    class Scale(Module):
        def __init__(self) -> None:
            super().__init__()
            self.s = Parameter(np.ones(1, dtype=np.float32))

        def forward(self, x: Tensor) -> Tensor:
            return x * self.s

    with pytest.raises(TypeError, match="count_flops cannot count Scale: supported are Linear, Conv2d"):
        count_flops(Sequential(Linear(2, 2), Scale()), (1, 2))


@pytest.mark.parametrize("shape", [(), (2, 0), (2, -1), (2.0, 3), (True, 3)])
def test_count_flops_rejects_bad_shapes(shape) -> None:
    with pytest.raises(ValueError, match="input_shape must be a non-empty sequence of positive ints"):
        count_flops(Linear(3, 2), shape)


# --- benchmark_model and tables -----------------------------------------------------------------------------

def test_benchmark_model_collects_everything() -> None:
    net = Sequential(Linear(6, 4), _relu, Linear(4, 2))
    r = benchmark_model(net, (5, 6), name="tiny", runs=4, warmup=1)
    assert r.name == "tiny" and r.input_shape == (5, 6)
    assert r.params == 6 * 4 + 4 + 4 * 2 + 2 == net.num_parameters()
    assert r.param_bytes == 4 * r.params
    assert r.flops == count_flops(net, (5, 6))
    assert r.latency.runs == 4 and r.throughput > 0 and r.peak_bytes > 0
    assert r.throughput == pytest.approx(5 * 1e3 / r.latency.mean)


def test_benchmark_model_runs_in_eval_mode_and_restores_it() -> None:
    class Spy(Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = Linear(2, 2)
            self.modes: set[bool] = set()

        def forward(self, x: Tensor) -> Tensor:
            self.modes.add(self.training)
            return self.lin(x)

    spy = Spy()
    r = benchmark_model(spy, (1, 2), runs=2, warmup=0)
    assert spy.modes == {False} and spy.training is True
    assert r.flops is None                           # a custom Module: count_flops cannot analyse it


def test_benchmark_model_errors() -> None:
    with pytest.raises(TypeError, match="model must be a Module, got function"):
        benchmark_model(_relu, (1, 2))


def _result(name: str, p50: float, flops: int | None, params: int = 1234) -> BenchmarkResult:
    lat = LatencyStats(mean=p50, p50=p50, p90=p50, p99=2 * p50, min=p50, max=2 * p50, runs=10)
    return BenchmarkResult(name=name, input_shape=(8, 4), params=params, param_bytes=4 * params, flops=flops,
                           latency=lat, throughput=8e3 / p50, peak_bytes=2048)


def test_comparison_table_exact_text() -> None:
    table = comparison_table([_result("baseline", 2.0, 1_000_000), _result("pruned-int8", 0.5, None, params=12)])
    assert table.splitlines() == [
        "model        params      FLOPs  p50 ms  p99 ms  samples/s  peak KiB  speedup",
        "-----------  ------  ---------  ------  ------  ---------  --------  -------",
        "baseline      1,234  1,000,000   2.000   4.000      4,000       2.0    1.00x",
        "pruned-int8      12        n/a   0.500   1.000     16,000       2.0    4.00x",
    ]


def test_comparison_table_of_real_results_is_aligned() -> None:
    results = [benchmark_model(Linear(8, d), (4, 8), name=f"linear-{d}", runs=2, warmup=0) for d in (2, 64)]
    lines = comparison_table(results).splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1
    assert lines[2].startswith("linear-2 ") and lines[2].endswith("1.00x")


@pytest.mark.parametrize(
    ("results", "error", "match"),
    [
        ([], ValueError, "at least one BenchmarkResult"),
        (["x"], TypeError, "takes BenchmarkResult records, got str"),
    ],
)
def test_comparison_table_errors(results, error, match) -> None:
    with pytest.raises(error, match=match):
        comparison_table(results)


def test_results_are_frozen_records() -> None:
    r = _result("a", 1.0, 10)
    with pytest.raises(AttributeError):
        r.name = "b"  # type: ignore[misc]
    assert list(itertools.islice(vars(r).keys(), 3)) == ["name", "input_shape", "params"]


def test_count_flops_leaves_training_mode_and_dropout_rng_alone() -> None:
    from tinytorch.core.layers import Dropout

    drop, reference = Dropout(0.5, rng=np.random.default_rng(3)), Dropout(0.5, rng=np.random.default_rng(3))
    net = Sequential(Linear(4, 4), drop)
    assert count_flops(net, (2, 4)) == 2 * 2 * 16 + 2 * 4
    assert net.training is True and drop.training is True
    x = Tensor(np.ones((8, 8), dtype=np.float32))
    assert np.array_equal(drop(x).data, reference(x).data)   # counting drew no random numbers
