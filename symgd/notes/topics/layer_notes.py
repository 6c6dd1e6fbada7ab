r"""Shared pieces of the layer notes (``cnn-backprop``, ``rnn-bptt``, ``batch-norm``).

* :func:`show_chain`: a layer rule's chain of equalities, checked by
  :func:`symgd.derivation.layer_check.check_chains` before it is shown, as one numbered
  equation, in index notation (the Kronecker delta as :math:`\mathbb{1}[i = j]`).
* :func:`layer_source` and :func:`run_layer`: the generated NumPy lines of one layer
  (forward, then backward) as one readable function, and that function run on numbers, so the
  worked examples are computed by the code that trains.
* :func:`show_numbers`: a worked example's arrays as matrices, in an unnumbered display.
* :func:`layer_topic`: the shape every layer note shares: its sections, its figures when the
  note trains, then the layer's generated code on a page of its own.
* :func:`accuracy_run`, :func:`numbered` and :func:`training_figure`: the figures' seeded
  training runs, scored on the test set after each epoch, and their curves.

Example:
    >>> from symgd.define.architecture import architecture
    >>> layer = architecture("batchnorm,dense(1)", (1,), loss="mse").layers[0]
    >>> source = layer_source(layer)
    >>> source.splitlines()[0]
    'def batchnorm_layer(a0, gamma1, beta1, g1, running=None):'
    >>> out = run_layer(layer, {"a0": [[1.0], [2.0], [4.0]], "gamma1": [1.0], "beta1": [0.0],
    ...                         "g1": [[1.0], [0.0], [0.0]]})
    >>> out["a1"].ravel().round(3).tolist()
    [-1.069, -0.267, 1.336]
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy
import sympy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.lib.stride_tricks import sliding_window_view

from symgd.compile.architecture import LAYER_CODE
from symgd.define.architecture import Layer
from symgd.derivation.layer_check import Chain, CheckCase, check_chains
from symgd.notes.builder import Builder
from symgd.notes.document import PartialDerivative, Rendered
from symgd.render.network_notation import index_latex
from symgd.training import TrainResult, train_network
from symgd.training.transforms import GradientTransformation

__all__ = [
    "Panel",
    "Shown",
    "accuracy_run",
    "curves_figure",
    "layer_source",
    "layer_topic",
    "matrix_latex",
    "number_latex",
    "numbered",
    "page_break",
    "run_layer",
    "show_chain",
    "show_definition",
    "show_display",
    "show_numbers",
    "training_figure",
]

#: Characters of the generated comments that pdflatex's ``verbatim`` cannot set, in ASCII.
_ASCII = {"δ": "delta", "Σ": "sum", "−": "-", "ᵀ": ".T", "×": "x", "·": "*", "⁻": "-", "¹": "1"}
_COMMENT_WIDTH = 92


def show_chain(b: Builder, key: str, chain: Chain, cases: Sequence[CheckCase]) -> None:
    """One chain as a numbered equation, after checking every consecutive pair of its sides.

    The chain is kept in ``b.formulas`` as ``"chain {key}"`` (a ``sympy.Tuple`` of its sides)
    for the tests.

    Raises:
        ArithmeticError: A pair of sides differs at one of the ``cases``.
    """
    check = check_chains(key, (chain,), cases)
    if not check.passed:
        case, _, side, index, left, right = check.failures[0]
        raise ArithmeticError(
            f"{key}: sides {side} and {side + 1} differ at {index} in case {case!r}: "
            f"{left} != {right}"
        )
    lhs, *rest = (index_latex(_partials(side)) for side in chain.sides)
    b.equations((key, lhs, rest))
    b.formulas[f"chain {key}"] = sympy.Tuple(*chain.sides)


def show_display(b: Builder, aligned: str) -> None:
    """An unnumbered display (``&`` aligned lines): a compact rule restated, not a new equation."""
    b.parts.append(
        Rendered(
            f"\\begin{{align*}}\n{aligned}\n\\end{{align*}}\n",
            f"$$\n\\begin{{aligned}}\n{aligned}\n\\end{{aligned}}\n$$\n",
        )
    )


def page_break(b: Builder) -> None:
    """Place the pending figures, then go on on a fresh page (in the PDF; nothing in Markdown).

    Used before the long code listing, so a figure stays in its own section.
    """
    b.parts.append(Rendered("\\clearpage\n", ""))


def show_definition(b: Builder, key: str, definition: sympy.Eq) -> None:
    """A forward-pass definition in index notation, numbered."""
    b.equations((key, index_latex(definition.lhs), [index_latex(definition.rhs)]))


def _partials(expr: sympy.Expr) -> sympy.Expr:
    """``Derivative(f, v)`` shown as the fraction of partials, as the other notes write it."""
    return expr.replace(
        lambda e: isinstance(e, sympy.Derivative),
        lambda e: PartialDerivative(e.expr, e.variables[0]),
    )


def matrix_latex(values: numpy.ndarray, digits: int = 3) -> str:
    r"""Numbers as a ``pmatrix`` (a vector as a column), each shown with ``digits`` significant.

    Example:
        >>> matrix_latex(numpy.array([[1.0, -2.5], [0.125, 3.0]]))
        '\\begin{pmatrix} 1 & -2.5 \\\\ 0.125 & 3 \\end{pmatrix}'
    """
    array = numpy.atleast_1d(numpy.asarray(values, dtype=float))
    if array.size == 1:
        return number_latex(float(array.ravel()[0]), digits)
    rows = array.reshape(-1, 1) if array.ndim == 1 else array.reshape(array.shape[0], -1)
    body = r" \\ ".join(" & ".join(number_latex(v, digits) for v in row) for row in rows)
    return rf"\begin{{pmatrix}} {body} \end{{pmatrix}}"


def number_latex(value: float, digits: int = 3) -> str:
    r"""A number for a formula: ``digits`` significant, powers of ten written as such.

    Example:
        >>> number_latex(2330.4), number_latex(1.2e-10)
        ('2.33 \\cdot 10^{3}', '1.2 \\cdot 10^{-10}')
    """
    shown = f"{value:.{digits}g}"
    if "e" not in shown and abs(value) >= 10**digits:
        shown = f"{value:.{digits - 1}e}"
    if shown in ("-0", "-0.0"):
        shown = "0"
    if "e" in shown:
        mantissa, exponent = shown.split("e")
        shown = rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return shown


@dataclass(frozen=True)
class Shown:
    """One line of a worked example: ``lhs = middle = value`` (``middle`` may be empty)."""

    name: str
    lhs: str
    value: numpy.ndarray
    middle: str = ""


def show_numbers(b: Builder, lines: Sequence[Shown], *, digits: int = 3) -> None:
    """Worked-example numbers as matrices, unnumbered (numbers are not numbered equations).

    Each value is kept in ``b.formulas`` as ``"number {name}"`` (a ``sympy.Matrix``).
    """
    rows = []
    for line in lines:
        value = numpy.asarray(line.value, dtype=float)
        b.formulas[f"number {line.name}"] = sympy.Matrix(numpy.atleast_2d(value).tolist())
        middle = f" = {line.middle}" if line.middle else ""
        rows.append(f"{line.lhs}{middle} &= {matrix_latex(value, digits)}")
    tex = "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"
    markdown = "$$\n\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}\n$$\n"
    b.parts.append(Rendered(tex, markdown))


def _code_module(layer: Layer):
    if layer.kind not in LAYER_CODE:
        raise ValueError(f"no layer code for {layer.kind} layers ({layer.text})")
    return importlib.import_module(LAYER_CODE[layer.kind])


def _readable(line: str) -> list[str]:
    """A generated line for the listing: comments in ASCII, wrapped at a word."""
    code, hash_, comment = line.partition("# ")
    if not hash_ or code.strip():
        return [line]
    for old, new in _ASCII.items():
        comment = comment.replace(old, new)
    return textwrap.wrap(
        comment,
        _COMMENT_WIDTH - len(code),
        initial_indent=code + "# ",
        subsequent_indent=code + "#   ",
    )


def layer_source(layer: Layer, k: int = 1) -> str:
    """The generated code of one layer as a function: forward lines, then backward lines.

    The function takes the layer's input ``a{k-1}``, its parameters and the upstream gradient
    ``g{k}``, and returns its locals: the output ``a{k}``, the gradient ``g{k-1}`` sent back,
    and the parameter gradients (``dK1`` …), which it allocates as the compiled network does.
    """
    module = _code_module(layer)
    names = [name for name, _ in layer.parameters]
    lines = [f"d{name} = numpy.zeros_like({name})" for name in names]
    lines += module.forward_lines(layer, k, training=True)
    lines += module.backward_lines(layer, k, needs_input_gradient=True)
    lines = [part for line in lines for part in _readable(line)]
    lines.append("return locals()")
    arguments = ", ".join([f"a{k - 1}", *names, f"g{k}", "running=None"])
    body = "\n".join("    " + line for line in lines)
    return f"def {layer.kind}_layer({arguments}):\n{body}\n"


def run_layer(layer: Layer, values: Mapping[str, object], k: int = 1) -> dict[str, numpy.ndarray]:
    """Run :func:`layer_source` on numbers; returns the function's locals (arrays).

    Args:
        layer: A ``conv``, ``rnn`` or ``batchnorm`` layer.
        values: ``a{k-1}``, each parameter and ``g{k}``, as nested lists or arrays.
        k: The layer's position in its stack.
    """
    namespace: dict = {"numpy": numpy, "sliding_window_view": sliding_window_view}
    exec(compile(layer_source(layer, k), "<layer>", "exec"), namespace)  # noqa: S102 -- symgd's
    arrays = {name: numpy.array(value, dtype=float) for name, value in values.items()}
    return namespace[f"{layer.kind}_layer"](**arrays)


@dataclass(frozen=True)
class Panel:
    """One panel of :func:`curves_figure`: labelled curves ``{label: (x, y)}`` on its axes."""

    title: str
    xlabel: str
    ylabel: str
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]
    log: bool = False


def curves_figure(panels: Sequence[Panel], path: Path) -> Path:
    """Panels side by side (text at least 8 pt at text width), saved as PNG."""
    figure = Figure(figsize=(4.2 * len(panels), 3.6))
    with matplotlib.rc_context({"font.size": 11, "legend.fontsize": 9}):
        for axes, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
            for label, (x, y) in panel.curves.items():
                axes.plot(x, y, lw=2, label=label)
            if panel.log:
                axes.set_yscale("log")
            axes.set_title(panel.title)
            axes.set_xlabel(panel.xlabel)
            axes.set_ylabel(panel.ylabel)
            axes.grid(alpha=0.3)
            axes.legend()
        figure.tight_layout()
    FigureCanvasAgg(figure).print_png(path)
    return path


def numbered(
    series: Mapping[str, Sequence[float]], first: int = 0
) -> dict[str, tuple[numpy.ndarray, Sequence[float]]]:
    """Each named series against its count (epoch or update), counted from ``first``.

    Example:
        >>> numbered({"loss": [0.9, 0.5, 0.2]}, first=1)["loss"][0].tolist()
        [1, 2, 3]
    """
    return {name: (numpy.arange(first, first + len(ys)), ys) for name, ys in series.items()}


def training_figure(
    losses: Mapping[str, Sequence[float]],
    accuracies: Mapping[str, Sequence[float]],
    path: Path,
    *,
    accuracy_label: str = "accuracy",
) -> Path:
    """Training loss (log scale, from epoch 0) beside test accuracy (after each epoch)."""
    return curves_figure(
        [
            Panel("Training loss", "epoch", "cross-entropy", numbered(losses), log=True),
            Panel("Test accuracy", "epoch", accuracy_label, numbered(accuracies, first=1)),
        ],
        path,
    )


def accuracy_run(
    compiled: Any,
    data: Sequence[numpy.ndarray],
    optimizer: GradientTransformation,
    *,
    epochs: int,
    batch_size: int,
) -> tuple[TrainResult, list[float]]:
    """Train a classifier from the seeded start, scoring it on the test set after each epoch.

    Args:
        compiled: A compiled classifier (:func:`symgd.compile.architecture.compile_architecture`).
        data: ``X_train, X_test, y_train, y_test``.
        optimizer: From :func:`symgd.training.make_optimizer`.
        epochs: Passes over the training set.
        batch_size: Examples per update.

    Returns:
        The training result and the test accuracy after each epoch.

    Example:
        >>> from symgd.compile.architecture import compile_architecture
        >>> from symgd.define.architecture import architecture
        >>> from symgd.training import make_optimizer
        >>> X = numpy.array([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> y = numpy.array([0, 1, 0, 1])
        >>> compiled = compile_architecture(architecture("dense(2)", (2,)))
        >>> result, accuracy = accuracy_run(
        ...     compiled, (X, X, y, y), make_optimizer("sgd", 0.5), epochs=3, batch_size=2
        ... )
        >>> len(accuracy), accuracy[-1]
        (3, 1.0)
    """
    X_train, X_test, y_train, y_test = data
    accuracy: list[float] = []

    def test_accuracy(info) -> None:
        accuracy.append(float(numpy.mean(compiled.predict(info.theta, X_test) == y_test)))

    result = train_network(
        compiled,
        X_train,
        compiled.targets(y_train),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        init_seed=0,
        seed=0,
        progress=False,
        callbacks=[test_accuracy],
    )
    return result, accuracy


def layer_topic(
    b: Builder,
    *,
    title: str,
    notation: Sequence[tuple[str, str]],
    sections: Sequence[Callable[[Builder], None]],
    figures: Callable[[Builder], None],
    layer: Layer,
    code_caption: str,
    code_intro: str,
    code_terms: Sequence[str] = (),
) -> str:
    r"""A layer note: notation, its sections, its figures when it trains, the code that runs.

    ``notation`` holds the rows ``(symbol, meaning)`` the note adds to its notation table.
    The listing goes on a fresh page, after a section that introduces it with ``code_intro``
    (a :meth:`~symgd.notes.builder.Builder.say` text whose ``{0}``, ``{1}`` … are
    ``code_terms``).

    Returns:
        ``title``, as a topic's ``build`` returns it.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> from symgd.notes.document import Notation
        >>> b = Builder("demo", Notation(), None)
        >>> layer_topic(
        ...     b,
        ...     title="A demo",
        ...     notation=[("g_{i}", "gradient from the layers above")],
        ...     sections=[lambda b: b.section("The layer")],
        ...     figures=lambda b: b.section("Never drawn: nothing trains without a folder"),
        ...     layer=architecture("batchnorm,dense(1)", (1,), loss="mse").layers[0],
        ...     code_caption="The layer in NumPy",
        ...     code_intro="Forward, then backward ({0} comes from above):",
        ...     code_terms=[r"\texttt{g1}"],
        ... )
        'A demo'
        >>> [section.heading for section in b.finish("A demo").sections]
        ['The layer', 'The code that runs']
    """
    for symbol, meaning in notation:
        b.note(symbol, meaning)
    for section in sections:
        section(b)
    if b.trains:
        figures(b)
    if b.with_code:
        page_break(b)
        b.section("The code that runs")
        b.say(code_intro, *code_terms)
        b.code(code_caption, layer_source(layer))
    return title
