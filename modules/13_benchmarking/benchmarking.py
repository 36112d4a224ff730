# %% [markdown]
# # Benchmarking
# > Measure a model the way a systems engineer does: latency percentiles, throughput, memory and FLOPs.
#
# "Is the new model faster?" is a measurement question, and measurements lie unless they are made
# carefully. This chapter builds the small toolbox that every later comparison in the course uses:
#
# - **latency** as a distribution (p50, p90, p99), not one number;
# - **throughput** in samples per second, which batching trades against latency;
# - **memory**: the bytes of the parameters, and the peak bytes a forward pass allocates;
# - **FLOPs**: the arithmetic a forward pass must do, counted from the architecture, which does not
#   depend on how noisy the machine is;
# - a **comparison table** to put models side by side.
#
# How the real tools do it: `torch.utils.benchmark.Timer` handles warm-up, thread settings and
# reports medians and interquartile ranges; `torch.profiler` and `torch.cuda.max_memory_allocated`
# give per-op time and peak memory; `fvcore` and `ptflops` count FLOPs by walking the model graph
# with per-layer formulas, exactly as `count_flops` does here.

# %%
#| default_exp core.benchmarking

# %%
#| export
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.autograd import no_grad
from tinytorch.core.dense import Sequential
from tinytorch.core.layers import Linear, Module
from tinytorch.core.spatial import Conv2d
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Latency: why p99 and not the mean
#
# Run the same forward pass 100 times and the timings differ: caches are warm or cold, the OS schedules
# another process, memory is allocated, the CPU changes frequency. The distribution has a long right
# tail. Its *mean* mixes the typical case with rare stalls and describes neither. Serving systems
# therefore quote percentiles: p50 (the median, the typical request) and p99 (1 request in 100 is slower
# than this). The tail matters more than it looks: a page that fans out to 100 backend calls waits for
# the slowest of them, so *most* page loads see some backend's p99 (Dean & Barroso, "The Tail at Scale").
#
# Two details make the numbers honest. First, **warm-up** runs are discarded: the first calls pay for
# lazy allocation, cold caches, and (in PyTorch) kernel selection or JIT compilation. Second, a
# percentile needs enough samples: with 20 runs, "p99" is interpolated between the two slowest runs and
# is really the maximum; a trustworthy p99 needs hundreds of runs.
#
# `LatencyStats` is a frozen record in milliseconds; `from_samples` turns raw timings into it
# (percentiles use numpy's default linear interpolation).

# %%
#| export
@dataclass(frozen=True)
class LatencyStats:
    """Summary of repeated timings, all in milliseconds."""

    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    runs: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> "LatencyStats":
        """Summarize raw timings given in milliseconds."""
        ### BEGIN SOLUTION
        arr = np.asarray(samples_ms, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            msg = f"need a non-empty 1-D sequence of timings, got shape {arr.shape}"
            raise ValueError(msg)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            msg = "timings must be finite and non-negative"
            raise ValueError(msg)
        p50, p90, p99 = np.percentile(arr, [50, 90, 99])
        return cls(mean=float(arr.mean()), p50=float(p50), p90=float(p90), p99=float(p99),
                   min=float(arr.min()), max=float(arr.max()), runs=int(arr.size))
        ### END SOLUTION

# %%
_s = LatencyStats.from_samples([1.0] * 98 + [50.0, 100.0])
assert _s.p50 == 1.0 and _s.mean > 2.0 and _s.p99 > 40.0   # the mean is pulled up by two stalls

# %% [markdown]
# `measure_latency` times any callable with `time.perf_counter` (monotonic, nanosecond resolution),
# after `warmup` untimed calls.

# %%
#| export
def _check_count(value: Any, name: str, minimum: int) -> int:
    """An int >= minimum (bools refused), or a ValueError naming the argument."""
    ### BEGIN SOLUTION
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name} must be an int >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return int(value)
    ### END SOLUTION


def measure_latency(fn: Callable[..., Any], *args: Any, warmup: int = 3, runs: int = 20) -> LatencyStats:
    """Time `fn(*args)` `runs` times after `warmup` untimed calls; return stats in milliseconds."""
    ### BEGIN SOLUTION
    if not callable(fn):
        msg = f"fn must be callable, got {type(fn).__name__}"
        raise TypeError(msg)
    warmup, runs = _check_count(warmup, "warmup", 0), _check_count(runs, "runs", 1)
    for _ in range(warmup):
        fn(*args)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - start) * 1e3)
    return LatencyStats.from_samples(samples)
    ### END SOLUTION

# %%
_lat = measure_latency(np.sort, np.arange(1000), warmup=1, runs=5)
assert _lat.runs == 5 and 0.0 <= _lat.min <= _lat.p50 <= _lat.p99 <= _lat.max

# %% [markdown]
# ## Throughput: samples per second
#
# Throughput is total work over total time, so here the *mean* is the right statistic. Batching raises
# it: one call on 64 samples amortizes Python overhead and lets BLAS work on a bigger matrix, but every
# sample in the batch waits for the whole batch, so latency grows. Serving systems (Triton, TorchServe)
# pick a batch size and a maximum queueing delay to sit on that trade-off.
#
# Inference runs under `no_grad()`: recording the autograd graph would keep every activation alive and
# measure memory and time that a deployed model never spends.

# %%
#| export
def _as_tensor(batch: Any) -> Tensor:
    """A Tensor view of `batch` (Tensor or array-like) with a leading batch axis."""
    ### BEGIN SOLUTION
    t = batch if isinstance(batch, Tensor) else Tensor(np.asarray(batch))
    if t.ndim == 0:
        msg = "batch must have a leading batch dimension, got a scalar"
        raise ValueError(msg)
    return t
    ### END SOLUTION


def measure_throughput(model: Callable[[Tensor], Any], batch: Any, runs: int = 10) -> float:
    """Samples per second of `model(batch)` in inference mode (one warm-up call, then `runs` timed calls)."""
    ### BEGIN SOLUTION
    if not callable(model):
        msg = f"model must be callable, got {type(model).__name__}"
        raise TypeError(msg)
    runs = _check_count(runs, "runs", 1)
    x = _as_tensor(batch)
    with no_grad():
        model(x)
        start = time.perf_counter()
        for _ in range(runs):
            model(x)
        elapsed = time.perf_counter() - start
    return runs * x.shape[0] / max(elapsed, 1e-12)
    ### END SOLUTION

# %%
_lin = Linear(16, 4)
assert measure_throughput(_lin, np.ones((32, 16), dtype=np.float32), runs=3) > 0

# %% [markdown]
# ## Memory: parameters and peak
#
# Two different numbers. **Parameter memory** is what the model costs at rest: the bytes of every
# parameter array (4 bytes per float32 weight; module 11's int8 quantization divides it by 4). Shared
# (tied) parameters are counted once.
#
# **Peak memory** is what a call costs while it runs: inputs to every layer, intermediate activations,
# im2col's column matrices (9x its input for a 3x3 conv), temporary copies. For training it is usually
# dominated by activations kept for backward, which is why PyTorch offers activation checkpointing.
# We measure it with `tracemalloc`, the standard library's allocation tracer: numpy reports its data
# buffers to it, so the peak includes array memory. (GPU frameworks keep their own counters:
# `torch.cuda.max_memory_allocated()`.) tracemalloc slows allocation down, so never time and trace in
# the same run.

# %%
#| export
def parameter_memory_bytes(model: Module) -> int:
    """Bytes held by the model's parameter arrays (shared parameters counted once)."""
    ### BEGIN SOLUTION
    if not isinstance(model, Module):
        msg = f"model must be a Module, got {type(model).__name__}"
        raise TypeError(msg)
    unique = {id(p): p for p in model.parameters()}
    return int(sum(p.data.nbytes for p in unique.values()))
    ### END SOLUTION


def peak_memory_bytes(fn: Callable[..., Any], *args: Any) -> int:
    """Peak bytes newly allocated (and traced by tracemalloc) while `fn(*args)` runs."""
    ### BEGIN SOLUTION
    if not callable(fn):
        msg = f"fn must be callable, got {type(fn).__name__}"
        raise TypeError(msg)
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    try:
        fn(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not already_tracing:
            tracemalloc.stop()
    return max(0, peak - baseline)
    ### END SOLUTION

# %%
assert parameter_memory_bytes(Linear(10, 5)) == (10 * 5 + 5) * 4
assert peak_memory_bytes(np.ones, 1_000_000) >= 8_000_000   # one float64 buffer of 8 MB

# %% [markdown]
# ## FLOPs: the work the architecture demands
#
# Latency depends on the machine; the FLOP count depends only on the model and the input shape, so it
# is the number to compare architectures by. Conventions differ between tools (some count a
# multiply-accumulate, "MAC", as one operation, some as two), so here is ours, stated once:
#
# - one multiply-accumulate = **2 FLOPs**; one bias add = **1 FLOP** per output element;
# - `Linear(in, out)` on input `(..., in)` with `B` = product of the leading dims:
#   `2 * B * in * out` `+ B * out` if it has a bias;
# - `Conv2d` with weight `(F, C, KH, KW)` producing `(N, F, OH, OW)`:
#   `2 * N * F * OH * OW * C * KH * KW` `+ N * F * OH * OW` with bias;
# - `MultiHeadAttention` on `(B, T, D)`: the projections cost `2 * B * T * w.size` for each 2-D weight
#   and `B * T * b.size` for each bias (four `D x D` projections: `4 * (2BTD^2 + BTD)`), plus
#   `Q K^T` and `attn @ V`, each `2 * B * T^2 * D` (summed over heads, `H * dh = D`);
# - `Sequential`: the sum over its layers, with each layer's input shape found by running a forward
#   pass on zeros (in eval mode and under `no_grad`, so nothing is recorded or randomly dropped);
# - elementwise and data-movement layers (activations, softmax, pooling, dropout, flatten) count **0**:
#   they are `O(n)` next to the matmuls' `O(n * k)`, and on real hardware they are memory-bound
#   anyway, so FLOPs would misdescribe their cost.
#
# Anything else with parameters is refused rather than silently counted as zero.

# %%
#| export
def _linear_flops(layer: Linear, in_shape: tuple[int, ...]) -> int:
    ### BEGIN SOLUTION
    rows = int(np.prod(in_shape[:-1], dtype=np.int64))
    fan_in, fan_out = layer.weight.shape
    return 2 * rows * fan_in * fan_out + (rows * fan_out if layer.bias is not None else 0)
    ### END SOLUTION


def _conv_flops(layer: Conv2d, out_shape: tuple[int, ...]) -> int:
    ### BEGIN SOLUTION
    outputs = int(np.prod(out_shape, dtype=np.int64))          # N * F * OH * OW
    _, channels, kh, kw = layer.weight.shape
    return 2 * outputs * channels * kh * kw + (outputs if layer.bias is not None else 0)
    ### END SOLUTION


def _attention_flops(layer: MultiHeadAttention, in_shape: tuple[int, ...]) -> int:
    ### BEGIN SOLUTION
    batch, seq, dim = in_shape
    tokens = batch * seq
    projections = sum(2 * tokens * p.size if p.ndim == 2 else tokens * p.size for p in layer.parameters())
    return int(projections) + 2 * (2 * batch * seq * seq * dim)
    ### END SOLUTION


def _flops_through(layer: Any, x: Tensor) -> tuple[int, Tensor]:
    """FLOPs of `layer` on `x`, and its output (needed for the next layer's shape)."""
    ### BEGIN SOLUTION
    if isinstance(layer, Sequential):
        total = 0
        for i in range(len(layer)):
            flops, x = _flops_through(layer[i], x)
            total += flops
        return total, x
    out = layer(x)
    if isinstance(layer, Linear):
        return _linear_flops(layer, x.shape), out
    if isinstance(layer, Conv2d):
        return _conv_flops(layer, out.shape), out
    if isinstance(layer, MultiHeadAttention):
        return _attention_flops(layer, x.shape), out
    if isinstance(layer, Module) and layer.num_parameters() > 0:
        msg = (f"count_flops cannot count {type(layer).__name__}: supported are Linear, Conv2d, "
               f"MultiHeadAttention, Sequential and parameter-free layers")
        raise TypeError(msg)
    return 0, out
    ### END SOLUTION


def count_flops(model: Any, input_shape: Sequence[int]) -> int:
    """Forward-pass FLOPs of `model` on an input of `input_shape` (2 per multiply-add, 1 per bias add)."""
    ### BEGIN SOLUTION
    shape = tuple(input_shape)
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape):
        msg = f"input_shape must be a non-empty sequence of positive ints, got {input_shape!r}"
        raise ValueError(msg)
    was_training = model.training if isinstance(model, Module) else None
    if isinstance(model, Module):
        model.eval()      # eval: Dropout must not draw from its generator while we only count
    try:
        with no_grad():
            flops, _ = _flops_through(model, Tensor(np.zeros(shape, dtype=np.float32)))
    finally:
        if isinstance(model, Module) and was_training is not None:
            model.train(was_training)
    return int(flops)
    ### END SOLUTION

# %%
assert count_flops(Linear(3, 4), (2, 3)) == 2 * 2 * 3 * 4 + 2 * 4
assert count_flops(Conv2d(1, 2, 3, padding=1), (1, 1, 4, 4)) == 2 * (2 * 16) * 9 + 2 * 16
assert count_flops(MultiHeadAttention(8, 2), (1, 5, 8)) == 4 * (2 * 5 * 64 + 5 * 8) + 4 * 25 * 8

# %% [markdown]
# ## One call, one record
#
# `benchmark_model` runs all of the above on a seeded random input and collects a `BenchmarkResult`.
# Throughput is derived from the same timed runs (batch size / mean latency) so the model is not run
# twice; `flops` is `None` for models `count_flops` cannot analyse (for example models that take token
# ids). `peak_bytes` comes from a separate, untimed run under tracemalloc.

# %%
#| export
@dataclass(frozen=True)
class BenchmarkResult:
    """Everything measured about one model on one input shape."""

    name: str
    input_shape: tuple[int, ...]
    params: int
    param_bytes: int
    flops: int | None
    latency: LatencyStats
    throughput: float
    peak_bytes: int


def benchmark_model(model: Module, input_shape: Sequence[int], name: str = "model", runs: int = 20,
                    warmup: int = 3, seed: int = 0) -> BenchmarkResult:
    """Measure parameters, FLOPs, latency, throughput and peak memory of `model` on a random input."""
    ### BEGIN SOLUTION
    if not isinstance(model, Module):
        msg = f"model must be a Module, got {type(model).__name__}"
        raise TypeError(msg)
    shape = tuple(int(d) for d in input_shape)
    try:
        flops: int | None = count_flops(model, shape)
    except TypeError:
        flops = None
    x = Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))

    def infer(inp: Tensor) -> Any:
        with no_grad():
            return model(inp)

    was_training = model.training
    model.eval()
    try:
        latency = measure_latency(infer, x, warmup=warmup, runs=runs)
        peak = peak_memory_bytes(infer, x)
    finally:
        model.train(was_training)
    return BenchmarkResult(
        name=str(name), input_shape=shape, params=model.num_parameters(),
        param_bytes=parameter_memory_bytes(model), flops=flops, latency=latency,
        throughput=shape[0] * 1e3 / max(latency.mean, 1e-9), peak_bytes=peak,
    )
    ### END SOLUTION

# %%
_r = benchmark_model(Sequential(Linear(16, 32), Linear(32, 4)), (8, 16), name="mlp", runs=3, warmup=1)
assert _r.params == 16 * 32 + 32 + 32 * 4 + 4 and _r.flops == 2 * 8 * (16 * 32 + 32 * 4) + 8 * (32 + 4)

# %% [markdown]
# ## Comparing models
#
# A table beats a paragraph of numbers. `comparison_table` aligns one row per result: text columns to
# the left, numbers to the right (so digits line up), and a `speedup` column relative to the first row's
# p50 latency. Keep FLOPs and latency side by side: a model with half the FLOPs is often *not* twice as
# fast, because small or elementwise-heavy layers are limited by memory bandwidth and overhead, not by
# arithmetic.

# %%
#| export
_COLUMNS = ("model", "params", "FLOPs", "p50 ms", "p99 ms", "samples/s", "peak KiB", "speedup")


def comparison_table(results: Sequence[BenchmarkResult]) -> str:
    """An aligned text table of benchmark results; speedup is relative to the first result's p50."""
    ### BEGIN SOLUTION
    results = list(results)
    if not results:
        msg = "comparison_table needs at least one BenchmarkResult"
        raise ValueError(msg)
    for r in results:
        if not isinstance(r, BenchmarkResult):
            msg = f"comparison_table takes BenchmarkResult records, got {type(r).__name__}"
            raise TypeError(msg)
    base = results[0].latency.p50
    rows = [
        (r.name, f"{r.params:,}", "n/a" if r.flops is None else f"{r.flops:,}", f"{r.latency.p50:.3f}",
         f"{r.latency.p99:.3f}", f"{r.throughput:,.0f}", f"{r.peak_bytes / 1024:,.1f}",
         f"{base / r.latency.p50:.2f}x" if r.latency.p50 > 0 else "n/a")
        for r in results
    ]
    widths = [max(len(col), *(len(row[i]) for row in rows)) for i, col in enumerate(_COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(parts)

    return "\n".join([line(_COLUMNS), "  ".join("-" * w for w in widths)] + [line(row) for row in rows])
    ### END SOLUTION

# %%
_small = benchmark_model(Sequential(Linear(16, 8), Linear(8, 4)), (8, 16), name="small", runs=3, warmup=1)
_table = comparison_table([_r, _small])
assert len({len(line) for line in _table.splitlines()}) == 1 and "small" in _table

# %%
if __name__ == "__main__":
    print(_table)
