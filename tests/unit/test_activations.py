"""Unit tests for tinytorch.core.activations (forward values; gradients are in the integration tests)."""

import math
from pathlib import Path

import numpy as np
import pytest

import tinytorch.core.activations as activations_module
from tinytorch.core.activations import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.tensor import Tensor


def _arr(*shape, seed=0, scale=3.0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _softmax_ref(x, axis=-1):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gelu_ref(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


REFERENCES = [
    (ReLU, lambda x: np.maximum(x, 0)),
    (Sigmoid, lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))),
    (Tanh, np.tanh),
    (GELU, _gelu_ref),
    (Softmax, _softmax_ref),
    (LogSoftmax, lambda x: np.log(_softmax_ref(x))),
]
IDS = [cls.__name__ for cls, _ in REFERENCES]


@pytest.mark.parametrize("cls,ref", REFERENCES, ids=IDS)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
def test_matches_numpy_reference(cls, ref, shape):
    x = _arr(*shape)
    out = cls()(Tensor(x))
    assert isinstance(out, Tensor) and out.shape == shape
    np.testing.assert_allclose(out.data, ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,ref", REFERENCES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(cls, ref, dtype):
    out = cls()(Tensor(_arr(3, 4, dtype=dtype)))
    assert out.dtype == dtype


@pytest.mark.parametrize("cls,ref", REFERENCES, ids=IDS)
def test_empty_batch(cls, ref):
    out = cls()(Tensor(np.zeros((0, 5), dtype=np.float32)))
    assert out.shape == (0, 5) and out.dtype == np.float32


@pytest.mark.parametrize("cls,ref", REFERENCES, ids=IDS)
def test_forward_equals_call_and_repr(cls, ref):
    act = cls()
    x = Tensor(_arr(2, 3))
    np.testing.assert_array_equal(act.forward(x).data, act(x).data)
    assert repr(act).startswith(cls.__name__ + "(")


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax])
def test_extreme_inputs_stay_finite(cls):
    # filterwarnings=error turns any overflow RuntimeWarning into a failure
    x = Tensor(np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=np.float32))
    out = cls()(x)
    assert np.isfinite(out.data).all()


def test_relu_values_and_zero():
    out = ReLU()(Tensor([-1.0, 0.0, 2.0]))
    assert out.data.tolist() == [0.0, 0.0, 2.0]
    assert ReLU()(Tensor([-2, 3])).data.tolist() == [0, 3]


def test_sigmoid_extremes_and_symmetry():
    x = _arr(10)
    s = Sigmoid()(Tensor(x)).data
    np.testing.assert_allclose(s + Sigmoid()(Tensor(-x)).data, 1.0, rtol=1e-6)
    assert Sigmoid()(Tensor([-1e4])).item() == 0.0 and Sigmoid()(Tensor([1e4])).item() == 1.0


def test_gelu_properties():
    out = GELU()(Tensor(np.array([-10.0, -1.0, 0.0, 1.0, 10.0])))
    assert out.data[2] == 0.0 and abs(out.data[0]) < 1e-10 and out.data[-1] == pytest.approx(10.0)
    assert out.data[1] == pytest.approx(-0.15880800939172324, rel=1e-6)   # torch gelu(approximate="tanh")
    assert out.data[3] == pytest.approx(0.8411919906082768, rel=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis_sums_to_one(axis):
    x = _arr(3, 4, 5)
    p = Softmax(axis=axis)(Tensor(x))
    np.testing.assert_allclose(p.data.sum(axis=axis), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p.data, _softmax_ref(x, axis=axis), rtol=1e-5, atol=1e-7)
    assert Softmax(axis=axis).axis == axis


def test_softmax_default_axis_is_last():
    assert Softmax().axis == -1 and LogSoftmax().axis == -1


def test_softmax_shift_invariance_and_huge_logits():
    x = _arr(2, 6, dtype=np.float64)        # float64: x + 1000 in float32 would itself round by ~6e-5
    np.testing.assert_allclose(Softmax()(Tensor(x)).data, Softmax()(Tensor(x + 1000.0)).data, atol=1e-6)
    p = Softmax()(Tensor([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(p.data, [[0.5, 0.5, 0.0]])


@pytest.mark.parametrize("axis", [0, -1])
def test_log_softmax_consistency(axis):
    x = _arr(4, 6)
    lp = LogSoftmax(axis=axis)(Tensor(x)).data
    np.testing.assert_allclose(np.exp(lp), Softmax(axis=axis)(Tensor(x)).data, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.exp(lp).sum(axis=axis), 1.0, rtol=1e-5)
    assert (lp <= 0).all()


def test_log_softmax_finite_where_softmax_underflows():
    lp = LogSoftmax()(Tensor(np.array([[0.0, -1e4]])))
    assert lp.data[0, 1] == pytest.approx(-1e4)   # log(softmax) would give -inf


def test_activations_module_does_not_import_autograd():
    import ast

    tree = ast.parse(Path(activations_module.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported and not any("autograd" in m for m in imported)


### BEGIN HIDDEN TESTS
def test_public_names():
    assert set(activations_module.__all__) == {"ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"}
### END HIDDEN TESTS
