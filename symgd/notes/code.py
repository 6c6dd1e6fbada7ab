"""The code that runs: the compiled NumPy source as a listing, and the descent loop.

The listing is :attr:`symgd.compile.Compiled.source` itself, the code that training
calls (already readable NumPy: one line per shared subexpression, the stable forms,
``x @ r`` for the sums over the examples), typeset by render's ``code_listing``. The
descent loop is a function written for reading, rendered by latexify-py; the notes
run it beside the runner to check that it takes the runner's path.
"""

from __future__ import annotations

import inspect

import latexify

from symgd.compile import Compiled, compile_objective
from symgd.derivation import Derivation
from symgd.notes.builder import Builder

__all__ = ["code_section", "compiled_or_code", "descent_loop", "loop_code"]


def descent_loop(theta, alpha, epochs, gradient):
    # Batch gradient descent, the loop the notes show (and check against the runner's path).
    # No docstring: latexify-py would print it inside the algorithm.
    t = 0
    while t < epochs:
        theta = theta - alpha * gradient(theta)
        t = t + 1
    return theta


def loop_code() -> tuple[str, str]:
    r"""latexify-py's algorithmic LaTeX (plain math, no extra packages) of the descent loop.

    Returns:
        ``(latex, python_source)``.

    Example:
        >>> text, source = loop_code()
        >>> r"\mathbf{function}" in text, source.startswith("def descent_loop(")
        (True, True)
    """
    text = latexify.get_latex(
        descent_loop,
        style=latexify.Style.IPYTHON_ALGORITHMIC,
        use_math_symbols=True,
        identifiers={"descent_loop": "gradient_descent"},
    )
    return text, inspect.getsource(descent_loop)


def code_section(b: Builder, compiled: Compiled) -> None:
    """The section "The code that runs": the compiled source, then the descent loop."""
    b.section("The code that runs")
    b.say(
        "The NumPy code symgd compiled from the derivation above, as it runs: the columns "
        "of X are the examples, r is the factor the gradients share, and training calls "
        "loss_and_gradient:"
    )
    b.code("The compiled loss and gradient (symgd.compile)", compiled.source)
    text, source = loop_code()
    b.say("and the descent loop that the batch run executes, rendered by latexify-py:")
    b.code("The gradient-descent loop, rendered by latexify-py", source, text)


def compiled_or_code(b: Builder, derivation: Derivation) -> Compiled | None:
    """The compiled objective when the note trains; ``None`` when it ends here.

    Without a figures folder nothing is trained and the note ends with the code;
    with ``code=False`` it ends with the derivation.
    """
    if not b.with_code:
        return None
    compiled = compile_objective(derivation)
    if b.trains:
        return compiled
    code_section(b, compiled)
    return None
