# %% [markdown]
# # MLOps
# > Keep a trained model: safe save/load of state dicts, a versioned model registry on disk, and drift monitoring.
#
# Training a model is the start of its life, not the end. It has to be written to disk without being
# corrupted, found again by name and version, loaded into the right architecture, and watched once it
# serves real data, because the world drifts away from the training set. This chapter builds the three
# smallest useful pieces of that machinery:
#
# 1. **Serialization**: a model's `state_dict` (name -> array) saved as `.npz` plus a JSON sidecar of
#    metadata, written atomically, loaded without pickle.
# 2. **A model registry**: `register(name, model, metrics)` returns a new version number; any version can
#    be listed and loaded back. This is the core of MLflow's Model Registry and of every internal
#    "model store".
# 3. **Drift monitoring**: the Population Stability Index compares the distribution a feature had at
#    training time with what the model sees now.
#
# The design follows PyTorch: we save *parameters*, not the Python object. Code builds the
# architecture (`MLP([2, 16, 2])`), the file fills in the numbers (`load_model`). That keeps files small,
# readable by any numpy, and independent of how the class happens to be pickled today.

# %%
#| default_exp core.mlops

# %%
#| export
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tinytorch.core.layers import Module
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Atomic writes
#
# Writing a 100 MB file takes time. If the process is killed halfway (an OOM kill, a pre-empted cloud
# VM, Ctrl-C), a plain `open(path, "wb")` leaves a truncated file *under the real name*, and the next
# `load` fails or, worse, loads garbage. The standard fix: write to a temporary file in the **same
# directory**, `fsync` it so the bytes are on disk, then `os.replace` it onto the final name. On POSIX
# a rename within one filesystem is atomic: a reader sees the old file or the new one, never a mix.
# (The temp file must be in the same directory because a rename across filesystems is a copy.)

# %%
#| export
def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and `os.replace`."""
    ### BEGIN SOLUTION
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    ### END SOLUTION

# %%
_tmpdir = Path(tempfile.mkdtemp())
_atomic_write(_tmpdir / "a.bin", b"new")
assert (_tmpdir / "a.bin").read_bytes() == b"new" and [p.name for p in _tmpdir.iterdir()] == ["a.bin"]

# %% [markdown]
# ## Saving a state dict without pickle
#
# `torch.save` writes a zip archive whose index is a *pickle*. Unpickling runs arbitrary code, so
# loading a model file from the internet is as dangerous as running a script from it; that is why
# PyTorch made `torch.load(weights_only=True)` the default (2.6) and why Hugging Face created the
# `safetensors` format (raw tensors + a JSON header).
#
# numpy's `.npz` is already the safe kind of format: a zip of `.npy` files, each a small header plus raw
# bytes. We write the archive ourselves with `np.lib.format.write_array(..., allow_pickle=False)` (so a
# parameter called `file` cannot collide with `np.savez`'s own argument) and read it back with
# `np.load(..., allow_pickle=False)`, which refuses object arrays instead of unpickling them.
#
# Beside `model.npz` we write `model.json`: the format tag, the model's class, each parameter's shape and
# dtype, your own metadata, and the SHA-256 of the `.npz` bytes. The two files are written one after the
# other, each atomically; the checksum lets `load_model` detect the one torn state left, a crash between
# the two writes (new weights, old metadata).

# %%
#| export
_FORMAT = "tinytorch.state_dict/1"


def _npz_bytes(state: Mapping[str, np.ndarray]) -> bytes:
    """Serialize a state dict as the bytes of an `.npz` archive (one `.npy` member per key, no pickle)."""
    ### BEGIN SOLUTION
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in state.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()
    ### END SOLUTION


def _check_state(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Validate a state dict: string keys, numeric (non-object) arrays."""
    ### BEGIN SOLUTION
    checked = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key:
            msg = f"state dict keys must be non-empty strings, got {key!r}"
            raise TypeError(msg)
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.dtype.hasobject:
            msg = f"state dict entry {key!r} has dtype object, which cannot be saved without pickle"
            raise TypeError(msg)
        checked[key] = arr
    return checked
    ### END SOLUTION


def _meta_path(path: Path) -> Path:
    ### BEGIN SOLUTION
    return path.with_suffix(".json")
    ### END SOLUTION


def _npz_path(path: str | os.PathLike[str]) -> Path:
    ### BEGIN SOLUTION
    p = Path(path)
    if p.suffix != ".npz":
        msg = f"model files end in .npz, got {str(p)!r} (the metadata goes beside it as .json)"
        raise ValueError(msg)
    return p
    ### END SOLUTION


def save_model(module: Module, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> Path:
    """Save `module.state_dict()` to `path` (.npz) and metadata to the .json beside it; returns `path`."""
    ### BEGIN SOLUTION
    if not isinstance(module, Module):
        msg = f"save_model needs a Module, got {type(module).__name__}"
        raise TypeError(msg)
    npz = _npz_path(path)
    state = _check_state(module.state_dict())
    data = _npz_bytes(state)
    meta = {
        "format": _FORMAT,
        "model": type(module).__name__,
        "num_parameters": int(sum(a.size for a in state.values())),
        "parameters": {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in state.items()},
        "sha256": hashlib.sha256(data).hexdigest(),
        "metadata": dict(metadata or {}),
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        msg = f"metadata must be JSON-serializable (finite numbers, str, lists, dicts): {err}"
        raise ValueError(msg) from None
    _atomic_write(npz, data)
    _atomic_write(_meta_path(npz), text.encode("utf-8"))
    return npz
    ### END SOLUTION

# %%
from tinytorch.core.layers import Linear  # demo only

_m = Linear(3, 2, rng=np.random.default_rng(1))
_p = save_model(_m, _tmpdir / "linear.npz", metadata={"note": "demo"})
assert sorted(p.name for p in _tmpdir.glob("linear.*")) == ["linear.json", "linear.npz"]

# %% [markdown]
# Loading is the mirror image, with errors that say what is wrong and where. `load_state` returns the raw
# dict; `load_model` checks the state against the module *before* touching any parameter, so a
# mismatched file leaves the module unchanged.

# %%
#| export
def load_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a state dict saved by `save_model` (no pickle: object arrays are refused)."""
    ### BEGIN SOLUTION
    npz = Path(path)
    if not npz.is_file():
        msg = f"no saved model at {str(npz)!r}"
        raise FileNotFoundError(msg)
    try:
        loaded = np.load(npz, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        msg = f"{str(npz)!r} is not a readable .npz state dict: {err}"
        raise ValueError(msg) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        msg = f"{str(npz)!r} holds a single array, not an .npz state dict"
        raise ValueError(msg)
    with loaded:
        try:
            return {key: loaded[key] for key in loaded.files}
        except ValueError as err:  # an object array: loading it would mean unpickling
            msg = f"{str(npz)!r} contains pickled object data, which load_state refuses: {err}"
            raise ValueError(msg) from None
    ### END SOLUTION


def load_model_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata written beside the .npz at `path` by `save_model`."""
    ### BEGIN SOLUTION
    meta = _meta_path(_npz_path(path))
    if not meta.is_file():
        msg = f"no metadata file {str(meta)!r} beside the model"
        raise FileNotFoundError(msg)
    try:
        loaded: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        msg = f"{str(meta)!r} is not valid JSON: {err}"
        raise ValueError(msg) from None
    return loaded
    ### END SOLUTION


def _mismatches(module: Module, state: Mapping[str, np.ndarray]) -> list[str]:
    """Human-readable differences between a module's parameters and a state dict."""
    ### BEGIN SOLUTION
    expected = {name: tuple(p.data.shape) for name, p in module.named_parameters()}
    problems = []
    if missing := sorted(set(expected) - set(state)):
        problems.append(f"missing keys {missing}")
    if unexpected := sorted(set(state) - set(expected)):
        problems.append(f"unexpected keys {unexpected}")
    for name in sorted(set(expected) & set(state)):
        if tuple(state[name].shape) != expected[name]:
            problems.append(f"{name!r} has shape {tuple(state[name].shape)} in the file, {expected[name]} in the model")
    return problems
    ### END SOLUTION


def load_model(module: Module, path: str | os.PathLike[str]) -> Module:
    """Load the weights at `path` into `module` (keys and shapes must match exactly); returns `module`."""
    ### BEGIN SOLUTION
    if not isinstance(module, Module):
        msg = f"load_model needs a Module, got {type(module).__name__}"
        raise TypeError(msg)
    npz = _npz_path(path)
    state = load_state(npz)
    if _meta_path(npz).is_file():
        digest = load_model_metadata(npz).get("sha256")
        if digest is not None and digest != hashlib.sha256(npz.read_bytes()).hexdigest():
            msg = f"{str(npz)!r} does not match the checksum in its metadata (torn or edited save)"
            raise ValueError(msg)
    if problems := _mismatches(module, state):
        msg = f"state dict in {str(npz)!r} does not match {type(module).__name__}: " + "; ".join(problems)
        raise ValueError(msg)
    module.load_state_dict(state)
    return module
    ### END SOLUTION

# %%
_m2 = load_model(Linear(3, 2, rng=np.random.default_rng(2)), _p)
_xd = Tensor(np.ones((4, 3), dtype=np.float32))
assert np.array_equal(_m(_xd).data, _m2(_xd).data)
assert load_model_metadata(_p)["metadata"] == {"note": "demo"}

# %% [markdown]
# ## A versioned model registry
#
# Files named `model_final_v2_really.npz` do not scale. A registry gives every model a **name** and every
# registration a new, immutable **version** (1, 2, 3, ...), stores metrics with it, and can load "the
# latest" or any pinned version. MLflow's Model Registry does this over a database and an artifact
# store; ours is a directory tree:
#
#     root/
#       mnist-cnn/
#         v1/model.npz  v1/model.json
#         v2/model.npz  v2/model.json
#
# Registering is atomic too: the version is written into a hidden staging directory, then renamed to
# `v<N>`. Renaming onto an existing, non-empty directory fails, so two processes registering at once
# cannot both claim version N: the loser simply retries with N + 1. A crash leaves only a hidden
# staging directory, which listing ignores. Versions are never overwritten.

# %%
#| export
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_VERSION_DIR = re.compile(r"v([1-9][0-9]*)")


def _check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    ### BEGIN SOLUTION
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        msg = f"metrics must be a mapping of name -> number, got {type(metrics).__name__}"
        raise TypeError(msg)
    checked = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            msg = f"metrics must map str -> number, got {key!r}: {value!r}"
            raise TypeError(msg)
        if not math.isfinite(float(value)):
            msg = f"metric {key!r} must be finite, got {value!r}"
            raise ValueError(msg)
        checked[key] = float(value)
    return checked
    ### END SOLUTION


class ModelRegistry:
    """Models stored by name and integer version under a root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _model_dir(self, name: str) -> Path:
        ### BEGIN SOLUTION
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            msg = (f"model names use letters, digits, '_', '.', '-' and start with a letter or digit; "
                   f"got {name!r}")
            raise ValueError(msg)
        return self.root / name
        ### END SOLUTION

    def names(self) -> list[str]:
        """Registered model names, sorted."""
        ### BEGIN SOLUTION
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)
                      and self._scan(p))
        ### END SOLUTION

    @staticmethod
    def _scan(model_dir: Path) -> list[int]:
        ### BEGIN SOLUTION
        if not model_dir.is_dir():
            return []
        found = (_VERSION_DIR.fullmatch(p.name) for p in model_dir.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)
        ### END SOLUTION

    def versions(self, name: str) -> list[int]:
        """All versions of `name`, ascending; KeyError if the name was never registered."""
        ### BEGIN SOLUTION
        found = self._scan(self._model_dir(name))
        if not found:
            msg = f"no model named {name!r} in registry {str(self.root)!r}; registered: {self.names()}"
            raise KeyError(msg)
        return found
        ### END SOLUTION

    def latest_version(self, name: str) -> int:
        """The highest version of `name`."""
        ### BEGIN SOLUTION
        return self.versions(name)[-1]
        ### END SOLUTION

    def _version_dir(self, name: str, version: int | None) -> tuple[int, Path]:
        ### BEGIN SOLUTION
        available = self.versions(name)
        if version is None:
            version = available[-1]
        elif isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
            msg = f"version must be an int >= 1 or None (latest), got {version!r}"
            raise ValueError(msg)
        if version not in available:
            msg = f"model {name!r} has no version {version}; available versions: {available}"
            raise KeyError(msg)
        return int(version), self._model_dir(name) / f"v{version}"
        ### END SOLUTION

    def register(self, name: str, module: Module, metrics: Mapping[str, Any] | None = None) -> int:
        """Store `module`'s weights (and `metrics`) as the next version of `name`; returns that version."""
        ### BEGIN SOLUTION
        model_dir = self._model_dir(name)
        if not isinstance(module, Module):
            msg = f"register needs a Module, got {type(module).__name__}"
            raise TypeError(msg)
        info = {"name": name, "metrics": _check_metrics(metrics),
                "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
        try:
            save_model(module, staging / "model.npz", metadata=info)
            for _ in range(1000):
                version = (self._scan(model_dir) or [0])[-1] + 1
                try:
                    os.rename(staging, model_dir / f"v{version}")
                except OSError:
                    if (model_dir / f"v{version}").exists():
                        continue          # another writer claimed this version first: take the next
                    raise
                return version
            msg = f"could not claim a new version of {name!r} in {str(model_dir)!r}"
            raise RuntimeError(msg)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        ### END SOLUTION

    def load(self, name: str, module: Module, version: int | None = None) -> Module:
        """Load version `version` (default: latest) of `name` into `module`; returns `module`."""
        ### BEGIN SOLUTION
        _, directory = self._version_dir(name, version)
        return load_model(module, directory / "model.npz")
        ### END SOLUTION

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Metrics, registration time and parameter shapes of one version (default: latest)."""
        ### BEGIN SOLUTION
        number, directory = self._version_dir(name, version)
        meta = load_model_metadata(directory / "model.npz")
        info = dict(meta.get("metadata", {}))
        info.update(version=number, model=meta["model"], num_parameters=meta["num_parameters"])
        return info
        ### END SOLUTION

# %%
_reg = ModelRegistry(_tmpdir / "registry")
assert _reg.register("demo", _m, metrics={"acc": 0.5}) == 1
assert _reg.register("demo", _m2, metrics={"acc": 0.75}) == 2
assert _reg.versions("demo") == [1, 2] and _reg.metadata("demo")["metrics"] == {"acc": 0.75}
assert np.array_equal(_reg.load("demo", Linear(3, 2), version=1).weight.data, _m.weight.data)

# %% [markdown]
# ## Drift monitoring with the Population Stability Index
#
# A model is trained on one distribution and served on another: users change, sensors age, an upstream
# team rescales a feature. Accuracy cannot be measured in production without labels, but the *inputs*
# can be watched. The Population Stability Index (PSI), born in credit scoring, compares a feature's
# distribution now with its distribution at training time:
#
# 1. Cut the reference data into `bins` buckets at its quantiles, so each holds about `1 / bins` of
#    it (deciles by default). Outer buckets are open-ended, so new extreme values still land somewhere.
# 2. Let `r_i` and `c_i` be the fractions of reference and current data in bucket `i`. Empty buckets
#    are floored at `1e-4` so the logarithm stays finite.
# 3. `PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`: a symmetric KL divergence between the two histograms.
#    It is 0 for identical histograms and grows as they separate.
#
# The rule of thumb used in industry: **PSI < 0.1** no meaningful shift, **0.1 to 0.25** moderate shift
# (investigate), **> 0.25** major shift (retrain). `check` reports drift when PSI exceeds `threshold`,
# 0.2 by default: between the two bands, so a clearly moderate shift raises an alert before it becomes
# major. Quantile binning needs enough reference data (we require at least `bins` values; a few hundred
# is better) and one monitor watches one feature.

# %%
#| export
_PSI_FLOOR = 1e-4
_MODERATE_PSI = 0.1
_MAJOR_PSI = 0.25


@dataclass(frozen=True)
class DriftReport:
    """Result of one drift check: the PSI, the verdict, and both histograms."""

    psi: float
    threshold: float
    drifted: bool
    severity: str              # "none" (< 0.1), "moderate" (0.1 to 0.25) or "major" (> 0.25)
    n_reference: int
    n_current: int
    reference_fractions: tuple[float, ...]
    current_fractions: tuple[float, ...]


def _feature(values: Any, name: str) -> np.ndarray:
    ### BEGIN SOLUTION
    arr = np.asarray(values.data if isinstance(values, Tensor) else values)
    if arr.ndim != 1:
        msg = f"{name} must be 1-D (one feature per DriftMonitor), got shape {arr.shape}"
        raise ValueError(msg)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        msg = f"{name} must be a non-empty array of finite numbers"
        raise ValueError(msg)
    return arr.astype(np.float64)
    ### END SOLUTION


class DriftMonitor:
    """Watch one feature for distribution drift against reference (training-time) data, using PSI."""

    def __init__(self, reference: Any, bins: int = 10) -> None:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            msg = f"bins must be an int >= 2, got {bins!r}"
            raise ValueError(msg)
        ref = _feature(reference, "reference")
        if ref.size < bins:
            msg = f"reference needs at least bins={bins} values, got {ref.size}"
            raise ValueError(msg)
        self.bins = int(bins)
        self.n_reference = int(ref.size)
        # Interior cut points at the reference quantiles; repeated values (discrete data) merge buckets.
        self.edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, self.bins + 1)[1:-1]))
        self.reference_fractions = self._fractions(ref)

    def _fractions(self, values: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        counts = np.bincount(np.searchsorted(self.edges, values, side="right"), minlength=self.edges.size + 1)
        return counts / values.size
        ### END SOLUTION

    def psi(self, current: Any) -> float:
        """Population Stability Index of `current` against the reference."""
        ### BEGIN SOLUTION
        cur = np.maximum(self._fractions(_feature(current, "current")), _PSI_FLOOR)
        ref = np.maximum(self.reference_fractions, _PSI_FLOOR)
        return float(np.sum((cur - ref) * np.log(cur / ref)))
        ### END SOLUTION

    def check(self, current: Any, threshold: float = 0.2) -> DriftReport:
        """Compare `current` with the reference; drift means PSI > `threshold`."""
        ### BEGIN SOLUTION
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not threshold > 0:
            msg = f"threshold must be a positive number, got {threshold!r}"
            raise ValueError(msg)
        cur = _feature(current, "current")
        value = self.psi(cur)
        severity = "none" if value < _MODERATE_PSI else "moderate" if value <= _MAJOR_PSI else "major"
        return DriftReport(
            psi=value, threshold=float(threshold), drifted=value > threshold, severity=severity,
            n_reference=self.n_reference, n_current=int(cur.size),
            reference_fractions=tuple(float(f) for f in self.reference_fractions),
            current_fractions=tuple(float(f) for f in self._fractions(cur)),
        )
        ### END SOLUTION

# %%
_rng = np.random.default_rng(0)
_mon = DriftMonitor(_rng.normal(0.0, 1.0, 5000))
assert not _mon.check(_rng.normal(0.0, 1.0, 2000)).drifted              # same distribution
assert _mon.check(_rng.normal(1.0, 1.0, 2000)).severity == "major"      # mean moved by one std

# %% [markdown]
# Drift grows smoothly with the size of the shift; watching PSI over time (one check per day or per
# batch of requests) shows a trend long before accuracy collapses.

# %%
_shifts = [0.0, 0.25, 0.5, 1.0]
_psis = [_mon.psi(_rng.normal(s, 1.0, 2000)) for s in _shifts]
assert _psis == sorted(_psis)
if __name__ == "__main__":
    for _s, _v in zip(_shifts, _psis):
        print(f"mean shift {_s:4.2f} std -> PSI {_v:.3f}")

# %%
shutil.rmtree(_tmpdir)  # the demos' scratch directory
