"""Stage 5, train: checkpoints that a later run resumes bit for bit.

A checkpoint holds every field of the :class:`~symgd.training.state.RunState` (parameters,
optimiser state, RNG state, epoch, histories) as JSON plus NumPy arrays — no pickle — behind a
SHA-256 checksum; it is written atomically, and a damaged one is reported and skipped. The
folder is checked for writing before a run starts; a save that fails later (a full disk) leaves
no temporary file behind, and the run goes on with its state in memory and a note saying why.

Example:
    >>> import numpy, tempfile
    >>> from symgd.training.state import RunState
    >>> folder = tempfile.mkdtemp()
    >>> run = RunState(numpy.ones(2), numpy.ones(2), None, {}, step=7, loss_history=[1.0])
    >>> checkpoints = Checkpoints(folder, {"seed": 0})
    >>> checkpoints.save(run, numpy.random.default_rng(0))
    True
    >>> [path.name for path in checkpoint_files(folder)]
    ['step-000000000007.ckpt']
    >>> notes = []
    >>> checkpoints.latest(notes).loss_history, notes
    ([1.0], ['resumed from checkpoint step-000000000007.ckpt'])
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy

from symgd.training.state import RunState
from symgd.training.transforms import ChainState, RuleState

_MAGIC = b"symgd-checkpoint 1\n"
_STATE_TYPES = {"RuleState": RuleState, "ChainState": ChainState}
#: Checkpoint files kept in the folder (the newest ones); older ones are removed.
KEEP_CHECKPOINTS = 3


def checkpoint_files(directory: str | Path) -> list[Path]:
    """The checkpoint files in a folder, oldest first.

    Args:
        directory: A ``checkpoint_dir`` of :func:`gradient_descent`.

    Returns:
        Paths named ``step-<number>.ckpt``.

    Example:
        >>> checkpoint_files("/nonexistent")
        []
    """
    folder = Path(directory)
    return sorted(folder.glob("step-*.ckpt")) if folder.is_dir() else []


def _encode(value: Any, arrays: dict[str, numpy.ndarray]) -> Any:
    """A JSON-ready copy of the run state; arrays go to ``arrays`` (no pickle anywhere)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | numpy.integer):
        return int(value)
    if isinstance(value, float | numpy.floating):
        return {"float": repr(float(value))}
    if isinstance(value, numpy.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if type(value).__name__ in _STATE_TYPES and isinstance(value, tuple):
        return {"state": type(value).__name__, "fields": [_encode(v, arrays) for v in value]}
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        key = f"a{len(arrays)}"
        arrays[key] = numpy.array(value, dtype=numpy.float64)
        return {"floats": key}
    if isinstance(value, list | tuple):
        return {"list" if isinstance(value, list) else "tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[str(k), _encode(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"cannot save a {type(value).__name__} in a checkpoint")


def _decode(value: Any, arrays: Mapping[str, numpy.ndarray]) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, content),) = ((k, v) for k, v in value.items() if k != "fields")
    if kind == "float":
        return float(content)
    if kind == "array":
        return numpy.array(arrays[content])
    if kind == "floats":
        return [float(v) for v in arrays[content]]
    if kind == "state":
        return _STATE_TYPES[content](*(_decode(v, arrays) for v in value["fields"]))
    if kind == "list":
        return [_decode(v, arrays) for v in content]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in content)
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in content}
    raise ValueError(f"unknown entry {kind!r} in a checkpoint")


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and flush it to the disk."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def check_folder(folder: str | Path) -> None:
    """Make sure checkpoints can be written to ``folder``: create it, write and remove a probe.

    Args:
        folder: A ``checkpoint_dir``.

    Raises:
        ValueError: The path is a file, or the folder cannot be created or written (naming it).

    Example:
        >>> check_folder("/dev/null")
        Traceback (most recent call last):
        ...
        ValueError: checkpoint folder /dev/null exists and is not a folder; choose another path
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"checkpoint folder {folder} exists and is not a folder; choose another path"
        )
    probe = folder / f".symgd-probe-{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_durably(probe, b"probe")
    except OSError as error:
        raise ValueError(f"cannot write checkpoints to {folder}: {_reason(error)}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    for path in sorted(folder.glob("step-*.ckpt")):
        if not path.is_file():
            raise ValueError(
                f"checkpoint path {path} is not a file; remove it or use another folder"
            )


def _save_checkpoint(folder: Path, run: RunState, config: dict) -> Path:
    """Write atomically: to a temporary file, flushed to disk, then renamed over the target.

    A failed write (``OSError``) removes the temporary file before the error goes on.
    """
    arrays: dict[str, numpy.ndarray] = {}
    state = {field.name: getattr(run, field.name) for field in dataclasses.fields(run)}
    document = {"config": config, "run": _encode(state, arrays)}
    arrays["json"] = numpy.frombuffer(json.dumps(document).encode(), dtype=numpy.uint8)
    buffer = io.BytesIO()
    numpy.savez(buffer, **arrays)
    payload = buffer.getvalue()
    header = f"sha256 {hashlib.sha256(payload).hexdigest()} {len(payload)}\n".encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{run.step:012d}.ckpt"
    temporary = path.with_suffix(".ckpt.tmp")
    try:
        _write_durably(temporary, _MAGIC + header + payload)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
    for old in checkpoint_files(folder)[:-KEEP_CHECKPOINTS]:
        with contextlib.suppress(OSError):  # the new checkpoint is written: that is what counts
            old.unlink(missing_ok=True)
    return path


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents; ``ValueError`` naming the damage if it is not intact."""
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        raise ValueError("not a symgd checkpoint")
    header, _, payload = raw[len(_MAGIC) :].partition(b"\n")
    parts = header.decode("ascii", errors="replace").split()
    if len(parts) != 3 or parts[0] != "sha256" or not parts[2].isdigit():
        raise ValueError("damaged header")
    if len(payload) != int(parts[2]):
        raise ValueError(f"truncated: {len(payload)} of {parts[2]} bytes")
    if hashlib.sha256(payload).hexdigest() != parts[1]:
        raise ValueError("checksum mismatch")
    with numpy.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    document = json.loads(arrays.pop("json").tobytes().decode())
    return {"config": document["config"], "run": _decode(document["run"], arrays)}


def _load_latest_checkpoint(folder: Path, config: dict, notes: list[str]) -> RunState | None:
    files = checkpoint_files(folder)
    for path in reversed(files):
        try:
            contents = _read_checkpoint(path)
        except (OSError, ValueError, KeyError) as error:
            notes.append(f"checkpoint {path.name} is damaged ({error}); using an older one")
            continue
        for key, value in config.items():
            if contents["config"].get(key) != value:
                raise ValueError(
                    f"the checkpoint {path} was made with {key}={contents['config'].get(key)!r}, "
                    f"not {value!r}; resume with the same settings or use another folder"
                )
        notes.append(f"resumed from checkpoint {path.name}")
        return RunState(**contents["run"])
    if files:
        raise ValueError(f"no intact checkpoint in {folder}: {'; '.join(notes)}")
    notes.append(f"no checkpoint in {folder} yet; started from the beginning")
    return None


def check_state_fits(saved: Any, fresh: Any) -> None:
    """The saved optimiser state must have the same structure as this optimiser's."""

    def shape(value):
        if isinstance(value, numpy.ndarray):
            return ("array", value.shape)
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return (type(value).__name__, tuple(shape(v) for v in value))
        return type(value).__name__ if value is not None else None

    if shape(saved) != shape(fresh):
        raise ValueError(
            "the checkpoint's optimizer state does not fit this optimizer; "
            "resume with the optimizer the run started with"
        )


class Checkpoints:
    """The checkpoints of one run: where they go, and the settings they must agree on.

    Args:
        folder: The ``checkpoint_dir``; ``None`` saves nothing.
        fingerprint: Settings a resumed run must share with its checkpoint (seed, batch size …).
    """

    def __init__(self, folder: str | Path | None, fingerprint: dict):
        self.folder = Path(folder) if folder is not None else None
        self.fingerprint = fingerprint
        self.saved: list[Path] = []
        #: Why the last save failed (``None`` after a save that worked).
        self.failure: str | None = None
        #: One note per distinct failure, for the run's diagnostics.
        self.failures: list[str] = []
        self._reasons: set[str] = set()

    def check_writable(self) -> None:
        """Check the folder before the run (see :func:`check_folder`); nothing without a folder."""
        if self.folder is not None:
            check_folder(self.folder)

    def save(self, run: RunState, rng: numpy.random.Generator) -> bool:
        """Save the run (with the shuffling generator's state), if there is a folder.

        Returns:
            Whether a checkpoint was written. A failed write (disk full, folder gone) is not
            an error: the run keeps its state in memory and :attr:`failures` says what failed.
        """
        if self.folder is None:
            return False
        run.rng_state = rng.bit_generator.state
        target = self.folder / f"step-{run.step:012d}.ckpt"
        try:
            self.saved.append(_save_checkpoint(self.folder, run, self.fingerprint))
        except OSError as error:
            self.failure = f"could not save the checkpoint {target}: {_reason(error)}"
            if _reason(error) not in self._reasons:  # one note per cause, not one per epoch
                self._reasons.add(_reason(error))
                self.failures.append(f"{self.failure}; the run went on with its state in memory")
            return False
        self.failure = None
        return True

    @property
    def last(self) -> Path | None:
        """The last checkpoint this run wrote."""
        return self.saved[-1] if self.saved else None

    def latest(self, notes: list[str]) -> RunState | None:
        """The newest intact checkpoint's run, or ``None`` when the folder has none yet.

        Raises:
            ValueError: The checkpoint was made with other settings, or none is intact.
        """
        return _load_latest_checkpoint(self.folder, self.fingerprint, notes)
