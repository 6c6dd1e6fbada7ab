r"""Time and size budgets around symbolic work: the one place a hostile input is cut short.

SymPy's simplification, expansion and high-precision evaluation have no cost bound: a loss
like :math:`(y - wx - b)^{32}` or forty nested ``sin`` can keep them busy for minutes. Every
stage that runs such work does it inside :func:`deadline`, which turns a budget that runs out
into :class:`TooComplex`: a ``ValueError`` with one line of text, which the command line prints
and exits with status 2. Work that is only a nicety (a prettier form) uses :func:`attempt`
and keeps the plain, correct result instead.

The budgets are module constants in seconds, read when the work starts, so a test can lower
them with ``monkeypatch.setattr(symgd.limits, "DERIVE_SECONDS", 0.5)``.

The clock is ``SIGALRM`` (``signal.setitimer``), which only the main thread of a process can
receive: in any other thread, or where the platform has no ``setitimer``, :func:`deadline`
runs the work without a limit.

Example:
    >>> with deadline(5, "adding two numbers"):
    ...     1 + 1
    2
    >>> attempt(5, lambda: sympy.factor(sympy.Symbol("x") ** 2 - 1), "x**2 - 1")
    (x - 1)*(x + 1)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import sympy

#: Deriving one scalar objective: every chain, its simplification and its consistency check.
DERIVE_SECONDS = 20.0
#: One optional simplification (``factor``, ``simplify``) before the plain form is kept.
SIMPLIFY_SECONDS = 2.0
#: Deriving a network's σ′, output error and (expanded) weight chains.
NETWORK_SECONDS = 20.0
#: Checking one hand-computed answer: reading, sampling in 50 digits and the verdict.
VERIFY_SECONDS = 20.0
#: Trying to prove an answer equal by ``simplify`` before the randomised verdict is kept.
PROOF_SECONDS = 5.0
#: Evaluating one expression at the sample points in 50-digit arithmetic (mpmath).
EVALUATE_SECONDS = 10.0
#: Rewriting and compiling one set of formulas to NumPy (stable forms, ``cse``).
COMPILE_SECONDS = 20.0
#: Above this many operations an expression is not handed to ``simplify``-like rewriting.
SIZE_LIMIT = 2000

ADVICE = "simplify the expression or split it into named intermediates (--define)"

T = TypeVar("T")


class TooComplex(ValueError):
    """A budget ran out: the input is too complex for the symbolic work asked of it.

    The message is one line: ``too complex: <what> took longer than N s; <advice>``.

    Example:
        >>> str(TooComplex("deriving the gradient", 20))
        'too complex: deriving the gradient took longer than 20 s; simplify the expression or ...'
    """

    def __init__(self, what: str, seconds: float | None = None, advice: str = ADVICE) -> None:
        took = f"took longer than {seconds:g} s" if seconds is not None else "is too large"
        super().__init__(f"too complex: {what} {took}; {advice}")
        self.what = what
        self.seconds = seconds


@dataclass(eq=False)
class _Deadline:
    expires: float
    seconds: float
    what: str
    advice: str
    closing: bool = field(default=False)


class _Expired(BaseException):  # noqa: N818 - internal; never reaches a caller
    """Raised by the alarm; a ``BaseException`` so that SymPy's ``except Exception`` lets it by."""

    def __init__(self, owner: _Deadline) -> None:
        super().__init__(owner.what)
        self.owner = owner


#: The deadlines now running, outermost first.
_active: list[_Deadline] = []


def _arm() -> None:
    """Set the timer for the earliest running deadline (or switch it off)."""
    open_ = [d.expires for d in _active if not d.closing]
    if not open_:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    signal.setitimer(signal.ITIMER_REAL, max(min(open_) - time.monotonic(), 1e-6))


def _alarm(signum, frame) -> None:
    now = time.monotonic()
    due = [d for d in _active if not d.closing and d.expires <= now + 1e-4]
    if due:
        # The outermost expired deadline unwinds everything inside it.
        raise _Expired(due[0])
    _arm()


def _available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deadline(seconds: float | None, what: str, advice: str = ADVICE) -> Iterator[None]:
    """Run the block within ``seconds`` of wall-clock time, else raise :class:`TooComplex`.

    Deadlines nest: an inner one never extends or cancels an outer one, and when an outer
    one runs out first it is the outer one that is reported. On leaving, the previous
    ``SIGALRM`` handler and the time left on a timer set by someone else are restored (a
    foreign alarm that falls due inside the block is delivered as the block ends).

    Args:
        seconds: The budget; ``None`` for no limit.
        what: What is being done, for the message (``"deriving dl/dw"``).
        advice: What the user can do about it.

    Raises:
        TooComplex: The block ran past its budget.

    Example:
        >>> import time
        >>> with deadline(0.05, "sleeping"):
        ...     time.sleep(1)
        Traceback (most recent call last):
        ...
        symgd.limits.TooComplex: too complex: sleeping took longer than 0.05 s; ...
    """
    if seconds is None or not _available():
        yield
        return
    started = time.monotonic()
    me = _Deadline(started + seconds, seconds, what, advice)
    outermost = not _active
    previous_handler = signal.getsignal(signal.SIGALRM)
    previous_left = signal.getitimer(signal.ITIMER_REAL)[0] if outermost else 0.0
    signal.signal(signal.SIGALRM, _alarm)
    try:
        # Inside the try: an outer deadline's alarm may arrive while this one is being set up.
        _active.append(me)
        _arm()
        yield
    except _Expired as expired:
        if expired.owner is not me:
            raise
        raise TooComplex(what, seconds, advice) from None
    finally:
        me.closing = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        if me in _active:
            # The deadlines opened inside this block end with it, even one whose own exit an
            # alarm cut short: left behind, it would expire later inside unrelated work.
            del _active[_active.index(me) :]
        if _active:
            _arm()
        else:
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_left > 0:
                left = previous_left - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6))


def attempt(seconds: float | None, work: Callable[[], T], fallback: T, what: str = "") -> T:
    """``work()`` if it finishes within ``seconds``, else ``fallback`` (for optional work).

    An outer :func:`deadline` that runs out meanwhile is still reported by its own block.

    Example:
        >>> attempt(0.05, lambda: time.sleep(1), "plain")
        'plain'
    """
    try:
        with deadline(seconds, what or "optional work"):
            return work()
    except TooComplex:
        return fallback


def shorten(expr: object, width: int = 60) -> str:
    """``expr`` as text of at most ``width`` characters, for a one-line message.

    Example:
        >>> shorten("sin(" * 30 + "x" + ")" * 30, 20)
        'sin(sin(sin(sin(...'
    """
    text = " ".join(str(expr).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def size(expr: sympy.Basic, limit: int | None = None) -> int:
    """The number of nodes of ``expr``'s tree, counting no further than ``limit + 1``.

    Example:
        >>> size(sympy.Symbol("x") + 1)
        3
    """
    limit = SIZE_LIMIT if limit is None else limit
    count = 0
    for _ in sympy.preorder_traversal(expr):
        count += 1
        if count > limit:
            break
    return count


def require_size(expr: sympy.Basic, what: str, limit: int | None = None) -> None:
    """Raise :class:`TooComplex` when ``expr`` has more than ``limit`` nodes.

    Example:
        >>> require_size(sympy.Symbol("x") + 1, "the loss", limit=2)
        Traceback (most recent call last):
        ...
        symgd.limits.TooComplex: too complex: the loss is too large; ...
    """
    limit = SIZE_LIMIT if limit is None else limit
    if size(expr, limit) > limit:
        raise TooComplex(what)


def run_process(
    command: list[str],
    *,
    timeout: float,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run an external program with no terminal input and a hard time limit.

    The program gets ``/dev/null`` as its input (TeX or METAFONT asking a question gets an
    end of file, not a wait) and its own process group: when the time runs out the whole
    group is killed, so a helper it started (``mktexpk`` → ``mf``) cannot hold the output
    pipes open and hang the caller.

    Args:
        command: The program and its arguments.
        timeout: Seconds before the group is killed.
        cwd: The working folder.
        env: The environment (default: this process's).

    Returns:
        The finished process, its output as text.

    Raises:
        subprocess.TimeoutExpired: The time ran out (the group was killed).

    Example:
        >>> run_process(["echo", "hi"], timeout=10).stdout
        'hi\\n'
    """
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
