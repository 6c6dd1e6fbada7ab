r"""Students' gradient functions (``FILE.py:FUNC``) run in a separate, limited process.

What this is: *isolation against honest mistakes and cheating attempts*, not a sandbox against
malicious code. The student's file is imported in a fresh Python process (``python -I``, a
minimal environment without the grader's variables, a scratch working directory that is deleted
afterwards) with

* a wall-clock timeout (default 10 s) for the start of Python, the import and every call
  together; the whole process group is killed when it runs out,
* a memory limit (``resource.setrlimit(RLIMIT_AS)``, default 1 GiB) and a 64 MiB limit on any
  file it writes (``RLIMIT_FSIZE``); writing files is allowed, inside those limits,
* its stdout and stderr captured by the grader (the first 2 KB kept, the rest discarded).

The grader sends every sample point in one request and receives only the returned values,
described as plain numbers (JSON); it validates them (real dtype, shape; non-finite values are
reported) and does all comparisons itself with its own NumPy, so patching ``numpy.allclose`` or
``math.isclose`` in the student's file changes nothing. ``sys.exit``, ``os._exit``, exceptions,
endless loops, huge allocations and output floods each become a one-line reason.

The process still runs as the grader's user: it can read files the grader can read, open network
connections and start processes. For code you do not trust at all, run the grader in a container,
for example::

    docker run --rm --network none --read-only --tmpfs /tmp --memory 2g --pids-limit 64 \
        -v "$PWD":/work:ro -w /work IMAGE symgd check ... --python student.py:grad

A function object passed to the Python API (a notebook's ``check_answer(d, "w", grad_w)``) is
trusted and runs in-process, as before; only :class:`StudentFunction` goes through this module.

Example:
    >>> student = StudentFunction("student.py", "grad_w", timeout=5.0)
    >>> student.label
    'student.py:grad_w'
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

__all__ = [
    "DEFAULT_MEMORY",
    "DEFAULT_TIMEOUT",
    "StudentFailure",
    "StudentFunction",
    "format_bytes",
    "parse_size",
]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY = 1 << 30
OUTPUT_KEPT = 2048
_FILE_SIZE = 64 << 20
_RESULT_LIMIT = 4 << 20  # the grader reads at most this much of the child's answer
_MAX_VALUES = 100_000  # values per returned array sent back


class StudentFailure(Exception):
    """The student's code gave no usable value: ``reason`` is one line for the report.

    Attributes:
        reason: E.g. ``"timed out after 10 s"``, ``"raised ZeroDivisionError: division by zero"``.
        output: The first bytes the code printed (stdout then stderr), decoded.
        printed: How many bytes it printed in all.
    """

    def __init__(self, reason: str, output: str = "", printed: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output
        self.printed = printed


@dataclass(frozen=True)
class StudentFunction:
    """``FILE.py:FUNC``: a gradient function run in a separate process (see the module).

    Calling it runs one set of arguments; :meth:`evaluate` runs many in one process. A part
    made by :meth:`part` picks one parameter's gradient out of a function that returns every
    gradient (a tuple in parameter order or a dict by name); parts share one run.

    Attributes:
        path: The student's file.
        function: The function's name in it.
        timeout: Seconds of wall-clock time for the import and all calls.
        memory: Bytes of address space (``RLIMIT_AS``).
        select: ``(name, index)`` of the gradient to pick, or ``None``.
    """

    path: str
    function: str
    timeout: float = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY
    select: tuple[str, int] | None = None
    _runs: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        """``FILE.py:FUNC``, for reports."""
        return f"{Path(self.path).name}:{self.function}"

    @property
    def __name__(self) -> str:  # read like a function's name by reports
        return self.function

    def part(self, name: str, index: int) -> StudentFunction:
        """The function for one parameter's gradient (sharing this one's runs)."""
        return StudentFunction(
            self.path, self.function, self.timeout, self.memory, (name, index), self._runs
        )

    def __call__(self, **arguments: Any) -> numpy.ndarray:
        (value,) = self.evaluate([arguments])[1]
        if isinstance(value, StudentFailure):
            raise value
        return value

    def evaluate(
        self, calls: list[dict[str, Any]]
    ) -> tuple[list[str], list[numpy.ndarray | StudentFailure]]:
        """Run the function on every call in one child process.

        Args:
            calls: Keyword arguments per call: floats, arrays (sent as lists) and ints.

        Returns:
            The function's argument names, and per call a float64 array or the
            :class:`StudentFailure` of that call.

        Raises:
            StudentFailure: Nothing usable came back (import failed, exit, timeout, memory …).
        """
        plain = [{k: _plain(v) for k, v in call.items()} for call in calls]
        key = json.dumps(plain, sort_keys=True)
        if key not in self._runs:
            try:
                self._runs[key] = _run_child(self, plain)
            except StudentFailure as failure:
                self._runs[key] = failure
        run = self._runs[key]
        if isinstance(run, StudentFailure):
            raise run
        names, results, output, printed = run
        values = []
        for entry in results:
            try:
                values.append(_value(entry, self.select, self.memory))
            except StudentFailure as failure:
                values.append(StudentFailure(failure.reason, output, printed))
        return names, values


def _plain(value: Any) -> Any:
    if isinstance(value, numpy.ndarray):
        return numpy.asarray(value, dtype=numpy.float64).tolist()
    if isinstance(value, int | numpy.integer):
        return int(value)
    return float(value)


def format_bytes(size: int) -> str:
    """``1073741824`` → ``"1 GiB"``; ``536870912`` → ``"512 MiB"``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):g} {unit}"
    return f"{size} bytes"


def parse_size(text: str) -> int:
    """``"1G"``, ``"512M"``, ``"2GiB"`` or a bare number of MiB, in bytes.

    Raises:
        ValueError: Not a positive size.
    """
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    shift = {"K": 10, "M": 20, "G": 30}.get(cleaned[-1:])
    number = float(cleaned[:-1] if shift is not None else cleaned)
    if not number > 0 or number != number:
        raise ValueError(f"{text!r} is not a positive size")
    return int(number * (1 << (20 if shift is None else shift)))


def _value(entry: dict, select: tuple[str, int] | None, memory: int) -> numpy.ndarray:
    """A returned value as described by the child, validated; else :class:`StudentFailure`."""
    if not isinstance(entry, dict):
        raise StudentFailure("sent back something unreadable")
    if "raised" in entry:
        kind, message = str(entry["raised"])[:80], _one_line(str(entry.get("message", "")))
        if kind == "MemoryError":
            raise StudentFailure(f"used more than {format_bytes(memory)} (MemoryError)")
        raise StudentFailure(f"raised {kind}: {message}" if message else f"raised {kind}")
    if select is not None:
        name, index = select
        if "mapping" in entry:
            mapping = entry["mapping"]
            if not isinstance(mapping, dict) or name not in mapping:
                raise StudentFailure(f"returned a dict without the key {name!r}")
            entry = mapping[name]
        elif "items" in entry:
            items = entry["items"]
            if not isinstance(items, list) or index >= len(items):
                raise StudentFailure(
                    f"returned {len(items)} values; return one gradient per parameter"
                )
            entry = items[index]
        else:
            raise StudentFailure("returned one value; return a tuple or dict of every gradient")
    if not isinstance(entry, dict):
        raise StudentFailure("sent back something unreadable")
    kind, shape = entry.get("kind"), tuple(entry.get("shape") or ())
    if kind == "c":
        raise StudentFailure("returned complex values")
    if kind not in ("i", "u", "f", "b") or entry.get("data") is None:
        if kind in ("i", "u", "f", "b"):
            raise StudentFailure(f"returned shape {shape}, far too many values")
        raise StudentFailure(
            f"returned {_one_line(str(entry.get('type', 'something')))}, not numbers"
        )
    try:
        value = numpy.asarray(entry["data"], dtype=numpy.float64).reshape(shape)
    except (TypeError, ValueError):
        raise StudentFailure("sent back something unreadable") from None
    return value


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drain(stream, kept: bytearray, counted: list[int]) -> None:
    """Read a pipe to its end, keeping the first :data:`OUTPUT_KEPT` bytes."""
    while True:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            return
        counted[0] += len(chunk)
        if len(kept) < OUTPUT_KEPT:
            kept.extend(chunk[: OUTPUT_KEPT - len(kept)])


def _run_child(student: StudentFunction, calls: list[dict]) -> tuple:
    """One child process for all ``calls``: (names, per-call entries, output, printed)."""
    with tempfile.TemporaryDirectory(prefix="symgd-student-") as scratch:
        request, result, work = (Path(scratch) / n for n in ("request.json", "result.json", "work"))
        work.mkdir()
        request.write_text(
            json.dumps(
                {
                    "path": str(Path(student.path).resolve()),
                    "function": student.function,
                    "calls": calls,
                    "memory": student.memory,
                    "file_size": _FILE_SIZE,
                    "result": str(result),
                }
            ),
            encoding="utf-8",
        )
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "LANG": "C.UTF-8",
            **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        }
        process = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), str(request)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=environment,
            start_new_session=True,  # its own process group: killed as a whole
        )
        kept, counted = bytearray(), [0]
        reader = threading.Thread(target=_drain, args=(process.stdout, kept, counted), daemon=True)
        reader.start()
        timed_out = False
        try:
            process.wait(timeout=student.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(process)
            process.wait()
            reader.join(timeout=2)
            process.stdout.close()
        output = bytes(kept).decode("utf-8", "replace")

        def failure(reason: str) -> StudentFailure:
            return StudentFailure(reason, output, counted[0])

        if timed_out:
            raise failure(f"timed out after {student.timeout:g} s")
        answer = None
        if result.is_file():
            with result.open("rb") as handle:
                text = handle.read(_RESULT_LIMIT + 1)
            if len(text) <= _RESULT_LIMIT:
                try:
                    answer = json.loads(text)
                except ValueError:
                    answer = None
    code = process.returncode
    if not isinstance(answer, dict):
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            raise failure(f"was killed by signal {name} before returning")
        raise failure(f"exited with status {code} before returning")
    if isinstance(answer.get("printed"), int) and answer["printed"] > 0:
        output = (_one_line(str(answer.get("output", "")), OUTPUT_KEPT) + " " + output).strip()
        counted[0] += answer["printed"]
    status = answer.get("status")
    if status == "exited":
        raise failure(
            f"exited with status {_one_line(str(answer.get('code')), 40)} before returning"
        )
    if status == "import":
        message = _one_line(f"{answer.get('raised')}: {answer.get('message')}")
        if answer.get("raised") == "MemoryError":
            raise failure(f"used more than {format_bytes(student.memory)} while importing")
        raise failure(f"could not import: {message}")
    if status == "missing":
        raise failure(f"has no function {student.function!r}")
    if status == "signature":
        raise failure("cannot read the arguments of the Python function")
    results, names = answer.get("results"), answer.get("arguments")
    if status != "ok" or not isinstance(results, list) or len(results) != len(calls):
        raise failure("sent back something unreadable")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise failure("sent back something unreadable")
    return names, results, output, counted[0]


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --- the child: ``python -I sandbox.py REQUEST`` (stdlib and NumPy only, no symgd) ---


def _describe(value: Any, top: bool = True) -> dict:
    """A returned value as plain JSON data; tuples and dicts one level deep."""
    from collections.abc import Mapping

    if top and isinstance(value, Mapping):
        return {"mapping": {str(k): _describe(v, False) for k, v in value.items()}}
    described: dict = {}
    if top and isinstance(value, list | tuple):
        described["items"] = [_describe(v, False) for v in value]
    try:
        array = numpy.asarray(value)
    except Exception as error:  # whatever it returned
        described.update(kind="O", type=type(value).__name__, error=type(error).__name__)
        return described
    described.update(kind=array.dtype.kind, shape=list(array.shape), type=type(value).__name__)
    if array.dtype.kind in "iufb" and array.size <= _MAX_VALUES:
        data = array.astype(numpy.float64).reshape(-1)
        described["data"] = [float(v) for v in data]
    return described


class _Kept:
    """A text stream that counts what is written and keeps the first :data:`OUTPUT_KEPT`."""

    def __init__(self) -> None:
        self.text, self.printed = "", 0

    def write(self, text: str) -> int:
        text = str(text)
        self.printed += len(text)
        if len(self.text) < OUTPUT_KEPT:
            self.text += text[: OUTPUT_KEPT - len(self.text)]
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _child(request_path: str) -> int:
    import resource

    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    for limit, size in (
        (resource.RLIMIT_AS, request["memory"]),
        (resource.RLIMIT_FSIZE, request["file_size"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (size, size))
    sys.dont_write_bytecode = True  # no __pycache__ left beside the student's file
    kept = _Kept()
    sys.stdout = sys.stderr = kept  # print() costs no pipe traffic; fd-level output still drains
    answer = _child_answer(request)
    answer["output"], answer["printed"] = kept.text[:OUTPUT_KEPT], kept.printed
    with open(request["result"], "w", encoding="utf-8") as handle:
        json.dump(answer, handle)
    return 0


def _child_answer(request: dict) -> dict:
    import importlib.util
    import inspect

    try:
        spec = importlib.util.spec_from_file_location("student_answer", request["path"])
        module = importlib.util.module_from_spec(spec)
        sys.modules["student_answer"] = module
        spec.loader.exec_module(module)
    except SystemExit as stop:
        return {"status": "exited", "code": stop.code if stop.code is not None else 0}
    except BaseException as error:  # the student's file: report, never crash
        return {"status": "import", "raised": type(error).__name__, "message": str(error)[:500]}
    function = getattr(module, request["function"], None)
    if not callable(function):
        return {"status": "missing"}
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return {"status": "signature"}
    results = []
    for call in request["calls"]:
        arguments = {
            n: numpy.asarray(v, dtype=numpy.float64) if isinstance(v, list) else v
            for n, v in call.items()
            if n in names
        }
        try:
            with numpy.errstate(all="ignore"):
                results.append(_describe(function(**arguments)))
        except SystemExit as stop:
            return {"status": "exited", "code": stop.code if stop.code is not None else 0}
        except BaseException as error:  # the student's code
            results.append({"raised": type(error).__name__, "message": str(error)[:500]})
    return {"status": "ok", "arguments": names, "results": results}


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
