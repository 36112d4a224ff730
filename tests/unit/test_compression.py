"""Unit tests for tinytorch.core.compression: pruning, int8 quantization, size accounting."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch.core.compression import (
    QuantizedArray,
    compression_report,
    dequantize,
    magnitude_prune,
    model_size_bytes,
    quantize_int8,
    quantize_module,
    sparsity,
)
from tinytorch.core.layers import Linear, Module, Parameter
from tinytorch.core.tensor import Tensor


class _TwoLayer(Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = Linear(6, 8, rng=rng)
        self.fc2 = Linear(8, 3, rng=rng)
        self.fc1.bias.data[...] = 0.1  # non-zero biases, which pruning must leave alone

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.fc1(x).maximum(0.0))


# ---- pruning -------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [0.0, 0.25, 0.5, 0.9])
def test_global_prune_hits_the_requested_sparsity(amount: float) -> None:
    model = _TwoLayer()
    report = magnitude_prune(model, amount)
    assert set(report) == {"fc1.weight", "fc2.weight"}
    assert sparsity(model) == pytest.approx(round(amount * 72) / 72)
    assert np.all(model.fc1.bias.data == 0.1)


def test_global_prune_removes_the_smallest_magnitudes() -> None:
    model = _TwoLayer()
    all_w = np.concatenate([model.fc1.weight.data.ravel(), model.fc2.weight.data.ravel()])
    magnitude_prune(model, 0.5)
    kept = np.concatenate([model.fc1.weight.data.ravel(), model.fc2.weight.data.ravel()])
    threshold = np.sort(np.abs(all_w))[36]
    assert np.all(np.abs(kept[kept != 0]) >= threshold)
    assert np.count_nonzero(kept) == 36


def test_layer_scope_prunes_each_weight_equally() -> None:
    model = _TwoLayer()
    report = magnitude_prune(model, 0.5, scope="layer")
    assert report == {"fc1.weight": 0.5, "fc2.weight": 0.5}


def test_prune_handles_ties_exactly() -> None:
    lin = Linear(4, 4)
    lin.weight.data[...] = 1.0
    magnitude_prune(lin, 0.25)
    assert np.count_nonzero(lin.weight.data == 0) == 4


def test_pruning_again_only_adds_zeros_and_mask_is_kept() -> None:
    model = _TwoLayer()
    magnitude_prune(model, 0.3)
    first = model.fc1.weight.data == 0
    magnitude_prune(model, 0.6)
    assert np.all(model.fc1.weight.data[first] == 0) and sparsity(model) == pytest.approx(round(0.6 * 72) / 72)
    mask = model.fc1.weight._prune_mask
    assert mask.dtype == bool and np.array_equal(mask, model.fc1.weight.data != 0)


def test_sparsity_ignores_biases_and_counts_zeros() -> None:
    lin = Linear(2, 2)
    lin.weight.data[...] = np.array([[0.0, 1.0], [0.0, 0.0]])
    assert sparsity(lin) == 0.75


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5])
def test_bad_sparsity(amount: float) -> None:
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        magnitude_prune(_TwoLayer(), amount)


def test_prune_errors() -> None:
    with pytest.raises(ValueError, match="scope must be 'global' or 'layer'"):
        magnitude_prune(_TwoLayer(), 0.5, scope="row")  # type: ignore[arg-type]

    class _BiasOnly(Module):
        def __init__(self) -> None:
            super().__init__()
            self.b = Parameter(np.ones(3))

    with pytest.raises(ValueError, match="no weights"):
        magnitude_prune(_BiasOnly(), 0.5)


# ---- quantization --------------------------------------------------------------------

def test_quantize_roundtrip_error_is_at_most_half_a_step() -> None:
    x = np.random.default_rng(1).normal(size=(50, 20)).astype(np.float32)
    q = quantize_int8(x)
    assert isinstance(q, QuantizedArray) and q.values.dtype == np.int8 and q.values.shape == x.shape
    assert np.isclose(q.scale, (x.max() - x.min()) / 255)
    back = dequantize(q)
    assert back.dtype == np.float32 and np.abs(back - x).max() <= q.scale / 2 + 1e-6
    assert q.values.min() == -128 and q.values.max() == 127  # the full int8 range is used


def test_zero_is_exact_and_range_includes_zero() -> None:
    x = np.array([0.0, 0.5, 2.0, 3.0])  # all >= 0: range widened to include 0
    q = quantize_int8(x)
    assert q.zero_point == -128 and dequantize(q)[0] == 0.0
    assert np.abs(dequantize(q) - x).max() <= q.scale / 2 + 1e-6


def test_symmetric_quantization() -> None:
    x = np.array([-1.0, 0.25, 0.5])
    q = quantize_int8(Tensor(x), symmetric=True)
    assert q.zero_point == 0 and np.isclose(q.scale, 1 / 127) and q.values[0] == -127


def test_constant_and_zero_arrays() -> None:
    assert np.array_equal(dequantize(quantize_int8(np.zeros(4))), np.zeros(4))
    assert np.allclose(dequantize(quantize_int8(np.full(3, -2.0))), -2.0, atol=1e-2)


@pytest.mark.parametrize(("x", "match"), [(np.zeros(0), "empty"), (np.array([1.0, np.nan]), "NaN or infinity")])
def test_quantize_errors(x: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        quantize_int8(x)


def test_int8_is_four_times_smaller() -> None:
    x = np.ones((32, 32), dtype=np.float32)
    assert quantize_int8(x).nbytes == x.nbytes // 4 + 8


def test_quantize_module_copies_and_keeps_outputs_close() -> None:
    model = _TwoLayer()
    x = Tensor(np.random.default_rng(2).normal(size=(5, 6)).astype(np.float32))
    before = model(x).numpy().copy()
    qmodel = quantize_module(model)
    assert qmodel is not model and qmodel.fc1.weight is not model.fc1.weight
    assert np.array_equal(model(x).numpy(), before)  # original untouched
    assert set(qmodel._quantized) == {"fc1.weight", "fc2.weight"}
    for name, p in qmodel.named_parameters():
        if p.data.ndim == 2:
            assert len(np.unique(p.data)) <= 256 and p.dtype == np.float32
            assert np.array_equal(p.data, dequantize(qmodel._quantized[name]))
    assert np.array_equal(qmodel.fc1.bias.data, model.fc1.bias.data)
    assert np.allclose(qmodel(x).numpy(), before, atol=0.1)


def test_quantize_module_keeps_pruned_zeros() -> None:
    model = _TwoLayer()
    magnitude_prune(model, 0.5)
    assert sparsity(quantize_module(model)) == sparsity(model)


def test_quantize_module_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="expects a Module"):
        quantize_module(np.zeros(3))  # type: ignore[arg-type]


# ---- sizes and report ----------------------------------------------------------------

def test_model_size_bytes() -> None:
    model = _TwoLayer()  # 6*8 + 8 + 8*3 + 3 = 83 parameters
    assert model_size_bytes(model) == 83 * 4
    assert model_size_bytes(model, bits=8) == 83
    assert model_size_bytes(model, bits=4) == 42
    magnitude_prune(model, 0.5)  # 36 weights zeroed; fc2 bias is zero too
    nonzero = sum(int(np.count_nonzero(p.data)) for p in model.parameters())
    assert model_size_bytes(model, bits=8, sparse=True) == nonzero + (83 + 7) // 8


def test_model_size_bad_bits() -> None:
    with pytest.raises(ValueError, match="bits must be one of"):
        model_size_bytes(_TwoLayer(), bits=7)


def test_compression_report() -> None:
    model = _TwoLayer()
    X = np.random.default_rng(3).normal(size=(20, 6)).astype(np.float32)
    y = model(Tensor(X)).numpy().argmax(axis=1)
    compressed = quantize_module(model)
    magnitude_prune(compressed, 0.5)
    rep = compression_report(model, compressed, bits=8, X=X, y=y)
    assert rep["original_accuracy"] == 1.0 and 0.0 <= rep["compressed_accuracy"] <= 1.0
    assert rep["original_bytes"] == 332 and rep["ratio"] == 332 / rep["compressed_bytes"] > 4
    assert rep["sparsity"] == 0.5
    assert model.training and compressed.training  # the report restores the mode
    with pytest.raises(ValueError, match="both X and y"):
        compression_report(model, compressed, X=X)
