"""Unit tests for tinytorch.core.mlops: save/load round trips, the on-disk registry, and PSI drift monitoring."""

import hashlib
import io
import json
import math
import os
import zipfile

import numpy as np
import pytest

import tinytorch.core.mlops as mlops
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.dense import MLP, Sequential
from tinytorch.core.layers import Linear, Module, Parameter
from tinytorch.core.mlops import (
    DriftMonitor,
    DriftReport,
    ModelRegistry,
    load_model,
    load_model_metadata,
    load_state,
    save_model,
)
from tinytorch.core.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.core.tensor import Tensor


def _relu(t: Tensor) -> Tensor:
    return t.maximum(0.0)


def _mlp(seed: int) -> MLP:
    return MLP([4, 8, 3], activation=lambda: _relu, rng=np.random.default_rng(seed))


def _cnn(seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(1, 3, 3, padding=1, rng=rng), _relu, MaxPool2d(2), Flatten(), Linear(3 * 4 * 4, 2, rng=rng))


def _predict(model, x: np.ndarray) -> np.ndarray:
    return model(Tensor(x)).data


_X = np.random.default_rng(42).standard_normal((6, 4)).astype(np.float32)
_IMAGES = np.random.default_rng(43).standard_normal((3, 1, 8, 8)).astype(np.float32)


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- save / load -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("make", "x"),
    [
        (_mlp, _X),
        (_cnn, _IMAGES),
        (lambda seed: MultiHeadAttention(8, 2, rng=np.random.default_rng(seed)),
         np.random.default_rng(44).standard_normal((2, 5, 8)).astype(np.float32)),
    ],
)
def test_save_load_gives_identical_predictions(tmp_path, make, x) -> None:
    original, fresh = make(0), make(1)
    assert not np.array_equal(_predict(original, x), _predict(fresh, x))
    path = save_model(original, tmp_path / "model.npz")
    assert load_model(fresh, path) is fresh
    assert np.array_equal(_predict(fresh, x), _predict(original, x))


def test_load_state_round_trips_keys_values_and_dtypes(tmp_path) -> None:
    model = _mlp(0)
    model.layers[0].weight.data = model.layers[0].weight.data.astype(np.float64)
    save_model(model, tmp_path / "m.npz")
    state = load_state(tmp_path / "m.npz")
    expected = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert state[key].dtype == value.dtype and np.array_equal(state[key], value)


def test_files_are_plain_npz_and_json(tmp_path) -> None:
    model = _mlp(0)
    path = save_model(model, tmp_path / "mlp.npz", metadata={"epochs": 3, "tags": ["xor"]})
    assert path == tmp_path / "mlp.npz" and _files(tmp_path) == ["mlp.json", "mlp.npz"]
    with np.load(path, allow_pickle=False) as archive:         # readable by numpy alone, no pickle
        assert sorted(archive.files) == sorted(model.state_dict())
    meta = json.loads((tmp_path / "mlp.json").read_text())
    assert meta == load_model_metadata(path)
    assert meta["format"] == "tinytorch.state_dict/1" and meta["model"] == "MLP"
    assert meta["num_parameters"] == model.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3
    assert meta["parameters"]["layers.0.weight"] == {"shape": [4, 8], "dtype": "float32"}
    assert meta["metadata"] == {"epochs": 3, "tags": ["xor"]}
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parameter_names_that_clash_with_numpy_arguments(tmp_path) -> None:
    class Odd(Module):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.file = Parameter(np.full(2, value, dtype=np.float32))
            self.allow_pickle = Parameter(np.full((1, 3), value, dtype=np.float32))

    save_model(Odd(1.0), tmp_path / "odd.npz")
    loaded = load_model(Odd(0.0), tmp_path / "odd.npz")
    assert np.array_equal(loaded.file.data, [1.0, 1.0]) and loaded.allow_pickle.data.shape == (1, 3)


def test_scalar_and_transposed_parameters_keep_their_shapes(tmp_path) -> None:
    class Shapes(Module):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.temperature = Parameter(np.array(value, dtype=np.float32))              # 0-d
            self.w = Parameter(np.full((3, 2), value, dtype=np.float32).T)               # not C-contiguous

    source = Shapes(2.0)
    source.w.data = np.arange(6, dtype=np.float32).reshape(3, 2).T
    save_model(source, tmp_path / "s.npz")
    state = load_state(tmp_path / "s.npz")
    assert state["temperature"].shape == () and state["w"].shape == (2, 3)
    loaded = load_model(Shapes(0.0), tmp_path / "s.npz")
    assert loaded.temperature.data == 2.0 and np.array_equal(loaded.w.data, source.w.data)


def test_saving_again_replaces_atomically_and_leaves_no_temp_files(tmp_path) -> None:
    save_model(_mlp(0), tmp_path / "m.npz")
    save_model(_mlp(1), tmp_path / "m.npz")
    assert _files(tmp_path) == ["m.json", "m.npz"]
    assert np.array_equal(_predict(load_model(_mlp(5), tmp_path / "m.npz"), _X), _predict(_mlp(1), _X))


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    save_model(_mlp(0), tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(mlops.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(_mlp(1), tmp_path / "m.npz")
    monkeypatch.undo()
    assert (tmp_path / "m.npz").read_bytes() == before and _files(tmp_path) == ["m.json", "m.npz"]


def test_a_torn_save_is_detected_by_the_checksum(tmp_path) -> None:
    save_model(_mlp(0), tmp_path / "m.npz")
    meta = (tmp_path / "m.json").read_bytes()
    save_model(_mlp(1), tmp_path / "m.npz")
    (tmp_path / "m.json").write_bytes(meta)                 # new weights, old metadata
    with pytest.raises(ValueError, match="does not match the checksum in its metadata"):
        load_model(_mlp(2), tmp_path / "m.npz")


def test_loading_without_the_json_still_works(tmp_path) -> None:
    save_model(_mlp(0), tmp_path / "m.npz")
    (tmp_path / "m.json").unlink()
    assert np.array_equal(_predict(load_model(_mlp(1), tmp_path / "m.npz"), _X), _predict(_mlp(0), _X))
    with pytest.raises(FileNotFoundError, match="no metadata file .*m.json"):
        load_model_metadata(tmp_path / "m.npz")


def test_mismatched_architecture_is_refused_and_module_untouched(tmp_path) -> None:
    save_model(_mlp(0), tmp_path / "m.npz")
    other = MLP([4, 8, 8, 3], activation=lambda: _relu)
    with pytest.raises(ValueError, match=r"does not match MLP: missing keys \['layers.4.bias', 'layers.4.weight'\]"
                                         r"; 'layers.2.bias' has shape \(3,\) in the file, \(8,\) in the model"
                                         r"; 'layers.2.weight' has shape \(8, 3\) in the file, \(8, 8\) in the model"):
        load_model(other, tmp_path / "m.npz")
    wider = MLP([4, 16, 3], activation=lambda: _relu)
    before = wider.state_dict()
    with pytest.raises(ValueError, match=r"'layers.0.weight' has shape \(4, 8\) in the file, \(4, 16\) in the model"):
        load_model(wider, tmp_path / "m.npz")
    assert all(np.array_equal(v, wider.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match=r"does not match Sequential: unexpected keys \['layers.2.bias', 'layers.2.weight'\]"):
        load_model(Sequential(Linear(4, 8)), tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"missing keys \['bias', 'weight'\]; unexpected keys \['layers.0.bias'"):
        load_model(Linear(4, 8), tmp_path / "m.npz")


def test_object_arrays_are_refused_on_load(tmp_path) -> None:
    evil = tmp_path / "evil.npz"
    np.savez(evil, w=np.array([{"x": 1}], dtype=object))   # numpy pickles object arrays
    with pytest.raises(ValueError, match="contains pickled object data, which load_state refuses"):
        load_state(evil)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a zip at all", "is not a readable .npz state dict"),
        (None, "holds a single array, not an .npz state dict"),
    ],
)
def test_load_state_rejects_non_npz_files(tmp_path, content, match) -> None:
    path = tmp_path / "bad.npz"
    if content is None:
        buffer = io.BytesIO()
        np.save(buffer, np.ones(3))
        content = buffer.getvalue()
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_state(path)


def test_load_state_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no saved model at .*nothing.npz"):
        load_state(tmp_path / "nothing.npz")


@pytest.mark.parametrize("name", ["model", "model.pt", "model.npz.tmp"])
def test_paths_must_end_in_npz(tmp_path, name) -> None:
    with pytest.raises(ValueError, match="model files end in .npz"):
        save_model(_mlp(0), tmp_path / name)
    with pytest.raises(ValueError, match="model files end in .npz"):
        load_model(_mlp(0), tmp_path / name)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("metadata", "match"),
    [({"bad": object()}, "JSON-serializable"), ({"loss": float("nan")}, "JSON-serializable")],
)
def test_metadata_must_be_json(tmp_path, metadata, match) -> None:
    with pytest.raises(ValueError, match=match):
        save_model(_mlp(0), tmp_path / "m.npz", metadata=metadata)
    assert _files(tmp_path) == []


def test_save_and_load_need_modules(tmp_path) -> None:
    with pytest.raises(TypeError, match="save_model needs a Module, got dict"):
        save_model({"w": np.ones(2)}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="load_model needs a Module, got function"):
        load_model(_relu, tmp_path / "m.npz")


# --- registry ------------------------------------------------------------------------------------------------

def test_registry_versions_latest_and_load(tmp_path) -> None:
    reg = ModelRegistry(tmp_path / "registry")
    assert reg.names() == []
    models = [_mlp(seed) for seed in range(3)]
    assert [reg.register("xor-mlp", m, metrics={"acc": 0.5 + i / 10}) for i, m in enumerate(models)] == [1, 2, 3]
    assert reg.register("cnn", _cnn(0)) == 1
    assert reg.names() == ["cnn", "xor-mlp"]
    assert reg.versions("xor-mlp") == [1, 2, 3] and reg.latest_version("xor-mlp") == 3
    assert np.array_equal(_predict(reg.load("xor-mlp", _mlp(9)), _X), _predict(models[2], _X))
    for version, model in enumerate(models, start=1):
        assert np.array_equal(_predict(reg.load("xor-mlp", _mlp(9), version=version), _X), _predict(model, _X))
    assert np.array_equal(_predict(reg.load("cnn", _cnn(9)), _IMAGES), _predict(_cnn(0), _IMAGES))


def test_registry_metadata(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0), metrics={"acc": 0.9, "epochs": 12})
    reg.register("m", _mlp(1))
    first = reg.metadata("m", version=1)
    assert first["metrics"] == {"acc": 0.9, "epochs": 12.0} and first["version"] == 1
    assert first["name"] == "m" and first["model"] == "MLP" and first["num_parameters"] == _mlp(0).num_parameters()
    assert "registered_at" in first
    assert reg.metadata("m")["version"] == 2 and reg.metadata("m")["metrics"] == {}


def test_registry_layout_and_versions_are_immutable(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0))
    v1 = (tmp_path / "m" / "v1" / "model.npz").read_bytes()
    reg.register("m", _mlp(1))
    assert _files(tmp_path / "m") == ["v1", "v2"]
    assert _files(tmp_path / "m" / "v2") == ["model.json", "model.npz"]
    assert (tmp_path / "m" / "v1" / "model.npz").read_bytes() == v1


def test_registry_ignores_staging_leftovers_and_stray_files(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0))
    (tmp_path / "m" / ".staging-crashed").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("hi")
    (tmp_path / "m" / "v0").mkdir()
    assert reg.versions("m") == [1] and reg.register("m", _mlp(1)) == 2


def test_failed_registration_leaves_nothing_behind(tmp_path) -> None:
    class Weird(Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = Parameter(np.zeros(2, dtype=np.float32))

        def state_dict(self) -> dict:
            return {"w": np.array([object()], dtype=object)}

    reg = ModelRegistry(tmp_path)
    with pytest.raises(TypeError, match="'w' has dtype object, which cannot be saved without pickle"):
        reg.register("w", Weird())
    assert _files(tmp_path / "w") == [] and reg.names() == []


def test_registry_retries_when_another_writer_takes_the_version(tmp_path, monkeypatch) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0))
    real_rename = os.rename
    raced = []

    def racing_rename(src, dst):
        if not raced:                                    # another process wins the race for v2
            raced.append(dst)
            os.makedirs(dst)
            (tmp_path / "m" / "v2" / "model.npz").write_bytes(b"theirs")
        return real_rename(src, dst)

    monkeypatch.setattr(mlops.os, "rename", racing_rename)
    assert reg.register("m", _mlp(1)) == 3
    monkeypatch.undo()
    assert (tmp_path / "m" / "v2" / "model.npz").read_bytes() == b"theirs"
    assert reg.versions("m") == [1, 2, 3]


def test_registry_unknown_name_and_version(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("known", _mlp(0))
    reg.register("known", _mlp(1))
    with pytest.raises(KeyError, match=r"no model named 'nope' in registry .*; registered: \['known'\]"):
        reg.versions("nope")
    with pytest.raises(KeyError, match="no model named 'nope'"):
        reg.latest_version("nope")
    with pytest.raises(KeyError, match="no model named 'nope'"):
        reg.load("nope", _mlp(0))
    with pytest.raises(KeyError, match=r"model 'known' has no version 7; available versions: \[1, 2\]"):
        reg.load("known", _mlp(0), version=7)
    with pytest.raises(KeyError, match="has no version 3"):
        reg.metadata("known", version=3)


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True])
def test_registry_bad_version_argument(tmp_path, version) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0))
    with pytest.raises(ValueError, match="version must be an int >= 1 or None"):
        reg.load("m", _mlp(0), version=version)


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b", "sp ace", 7])
def test_registry_rejects_bad_names(tmp_path, name) -> None:
    reg = ModelRegistry(tmp_path / "reg")
    with pytest.raises(ValueError, match="model names use letters, digits"):
        reg.register(name, _mlp(0))
    with pytest.raises(ValueError, match="model names use letters, digits"):
        reg.versions(name)
    assert not (tmp_path / "reg").exists()


@pytest.mark.parametrize(
    ("metrics", "error", "match"),
    [
        ({"acc": float("nan")}, ValueError, "metric 'acc' must be finite"),
        ({"acc": "high"}, TypeError, "metrics must map str -> number, got 'acc': 'high'"),
        ({"ok": True}, TypeError, "metrics must map str -> number"),
        ([("acc", 1.0)], TypeError, "metrics must be a mapping"),
    ],
)
def test_registry_rejects_bad_metrics(tmp_path, metrics, error, match) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(error, match=match):
        reg.register("m", _mlp(0), metrics=metrics)
    assert reg.names() == []


def test_registry_load_into_the_wrong_architecture(tmp_path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("m", _mlp(0))
    with pytest.raises(ValueError, match=r"v1.model\.npz' does not match Linear: missing keys \['bias', 'weight'\]"):
        reg.load("m", Linear(4, 3))
    with pytest.raises(TypeError, match="register needs a Module, got str"):
        reg.register("m", "weights")


# --- drift ---------------------------------------------------------------------------------------------------

def test_psi_hand_example_strong_shift() -> None:
    mon = DriftMonitor(np.arange(100.0), bins=4)               # quartile edges 24.75, 49.5, 74.25
    assert np.allclose(mon.reference_fractions, [0.25] * 4)
    current = np.array([10.0] * 50 + [90.0] * 50)               # fractions .5, 0, 0, .5 (zeros floored at 1e-4)
    expected = 2 * (0.25 * math.log(2.0)) + 2 * ((1e-4 - 0.25) * math.log(1e-4 / 0.25))
    assert mon.psi(current) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(4.25703, abs=1e-5)


def test_psi_hand_example_mild_shift() -> None:
    mon = DriftMonitor(np.arange(100.0), bins=4)
    current = np.array([0.0] * 30 + [30.0] * 20 + [60.0] * 25 + [80.0] * 25)   # .30 .20 .25 .25
    expected = 0.05 * math.log(0.30 / 0.25) + (-0.05) * math.log(0.20 / 0.25)
    assert mon.psi(current) == pytest.approx(expected, rel=1e-12)
    report = mon.check(current)
    assert report.psi == pytest.approx(0.0202733, abs=1e-6)
    assert (report.drifted, report.severity) == (False, "none")
    assert report.current_fractions == pytest.approx((0.3, 0.2, 0.25, 0.25))


def test_psi_of_the_reference_itself_is_zero() -> None:
    ref = np.random.default_rng(0).standard_normal(1000)
    assert DriftMonitor(ref).psi(ref) == pytest.approx(0.0, abs=1e-12)


def test_check_verdicts_for_growing_shifts() -> None:
    rng = np.random.default_rng(0)
    mon = DriftMonitor(rng.normal(0.0, 1.0, 4000), bins=10)
    same = mon.check(rng.normal(0.0, 1.0, 2000))
    assert not same.drifted and same.severity == "none" and same.psi < 0.05
    major = mon.check(rng.normal(1.0, 1.0, 2000))
    assert major.drifted and major.severity == "major" and major.psi > 0.25
    assert not mon.check(rng.normal(1.0, 1.0, 2000), threshold=5.0).drifted
    psis = [mon.psi(rng.normal(shift, 1.0, 2000)) for shift in (0.0, 0.3, 0.6, 1.2)]
    assert psis == sorted(psis)


def test_severity_bands_and_threshold_boundary() -> None:
    mon = DriftMonitor(np.arange(100.0), bins=4)
    moderate = np.array([0.0] * 40 + [30.0] * 10 + [60.0] * 25 + [80.0] * 25)     # .40 .10 .25 .25
    report = mon.check(moderate)
    expected = 0.15 * math.log(0.40 / 0.25) - 0.15 * math.log(0.10 / 0.25)          # = 0.2079
    assert report.psi == pytest.approx(expected) and report.severity == "moderate"
    assert report.drifted and report.threshold == 0.2                               # default threshold 0.2
    assert not mon.check(moderate, threshold=report.psi).drifted                     # drift means PSI > threshold


def test_report_is_a_frozen_record_with_both_histograms() -> None:
    mon = DriftMonitor(np.linspace(-1, 1, 50), bins=5)
    report = mon.check(np.linspace(-3, 3, 20))                  # values beyond the reference land in outer bins
    assert isinstance(report, DriftReport)
    assert report.n_reference == 50 and report.n_current == 20
    assert len(report.reference_fractions) == len(report.current_fractions) == 5
    assert sum(report.current_fractions) == pytest.approx(1.0)
    assert report.current_fractions[0] > 0.2 and report.current_fractions[-1] > 0.2
    with pytest.raises(AttributeError):
        report.psi = 0.0  # type: ignore[misc]


def test_discrete_reference_merges_repeated_edges() -> None:
    mon = DriftMonitor(np.array([0] * 50 + [1] * 50), bins=10)
    assert len(mon.reference_fractions) < 11 and sum(mon.reference_fractions) == pytest.approx(1.0)
    assert mon.psi(np.array([0] * 50 + [1] * 50)) == pytest.approx(0.0)
    assert mon.check(np.ones(100, dtype=np.int64)).drifted


def test_monitor_accepts_tensors() -> None:
    ref = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    assert DriftMonitor(Tensor(ref)).psi(Tensor(ref)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("reference", "bins", "match"),
    [
        (np.arange(100.0), 1, "bins must be an int >= 2, got 1"),
        (np.arange(100.0), 2.5, "bins must be an int >= 2"),
        (np.ones((10, 2)), 4, r"reference must be 1-D \(one feature per DriftMonitor\), got shape \(10, 2\)"),
        (np.array([1.0, np.nan, 2.0, 3.0]), 2, "reference must be a non-empty array of finite numbers"),
        (np.array([], dtype=float), 2, "reference must be a non-empty array"),
        (np.array(["a", "b", "c"]), 2, "reference must be a non-empty array of finite numbers"),
        (np.arange(5.0), 10, "reference needs at least bins=10 values, got 5"),
    ],
)
def test_monitor_constructor_errors(reference, bins, match) -> None:
    with pytest.raises(ValueError, match=match):
        DriftMonitor(reference, bins=bins)


@pytest.mark.parametrize(
    ("current", "kwargs", "match"),
    [
        (np.array([]), {}, "current must be a non-empty array of finite numbers"),
        (np.array([1.0, np.inf]), {}, "current must be a non-empty array of finite numbers"),
        (np.ones((3, 3)), {}, "current must be 1-D"),
        (np.ones(10), {"threshold": 0.0}, "threshold must be a positive number, got 0.0"),
        (np.ones(10), {"threshold": -1}, "threshold must be a positive number"),
        (np.ones(10), {"threshold": "0.2"}, "threshold must be a positive number"),
    ],
)
def test_check_errors(current, kwargs, match) -> None:
    mon = DriftMonitor(np.arange(20.0), bins=4)
    with pytest.raises(ValueError, match=match):
        mon.check(current, **kwargs)


### BEGIN HIDDEN TESTS
def test_npz_written_by_save_model_has_no_pickled_members(tmp_path) -> None:
    path = save_model(_cnn(0), tmp_path / "cnn.npz")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            header = archive.read(info.filename)[:128]
            assert header.startswith(b"\x93NUMPY") and b"'O'" not in header and b"|O" not in header
### END HIDDEN TESTS
