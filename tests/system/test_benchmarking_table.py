"""System test: benchmarking measures latency, throughput and FLOPs and prints a comparison table."""

import numpy as np

from tinytorch import (
    MLP,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    benchmark_model,
    comparison_table,
    count_flops,
    measure_throughput,
)


def _cnn() -> Sequential:
    rng = np.random.default_rng(0)
    return Sequential(Conv2d(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(4 * 6 * 6, 4, rng=rng))


def test_benchmark_table_for_mlp_and_cnn():
    mlp = MLP([144, 64, 4], activation=ReLU, rng=np.random.default_rng(0))
    cnn = _cnn()
    results = [
        benchmark_model(mlp, (16, 144), name="mlp", runs=5, warmup=1),
        benchmark_model(cnn, (16, 1, 12, 12), name="cnn", runs=5, warmup=1),
    ]

    mlp_flops = 2 * 16 * (144 * 64 + 64 * 4) + 16 * (64 + 4)
    conv_flops = 2 * (16 * 4 * 12 * 12) * 9 + 16 * 4 * 12 * 12
    assert results[0].flops == count_flops(mlp, (16, 144)) == mlp_flops
    assert results[1].flops == conv_flops + 2 * 16 * 144 * 4 + 16 * 4
    assert results[0].params == mlp.num_parameters() == 144 * 64 + 64 + 64 * 4 + 4
    for r in results:
        assert r.latency.p50 > 0 and r.latency.p50 <= r.latency.p99
        assert r.throughput > 0
        assert r.peak_bytes > 0

    table = comparison_table(results)
    lines = table.splitlines()
    assert len(lines) == 4  # header, rule, two rows
    assert len({len(line) for line in lines}) == 1  # aligned
    for column in ("FLOPs", "p50 ms", "samples/s"):
        assert column in lines[0]
    assert lines[2].startswith("mlp") and lines[3].startswith("cnn")
    assert f"{mlp_flops:,}" in lines[2]


def test_throughput_grows_with_batch_size():
    model = MLP([32, 32, 4], activation=ReLU, rng=np.random.default_rng(0))
    small = measure_throughput(model, np.zeros((1, 32), dtype=np.float32), runs=20)
    large = measure_throughput(model, np.zeros((256, 32), dtype=np.float32), runs=20)
    assert large > small > 0  # batching amortises per-call overhead
