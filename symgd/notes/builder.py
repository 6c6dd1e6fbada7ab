"""The builder the topics write with: sections, prose, numbered equations, figures, code.

A topic calls the builder's steps in reading order (``section``, ``say``, ``model``,
``chain``, ``update_rules`` …); each formula is printed by the note's configured printer
and each shown result is kept in ``formulas`` for the tests. :meth:`Builder.finish`
freezes what was collected into a :class:`~symgd.notes.document.Notes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import sympy

from symgd.define import Objective
from symgd.derivation import (
    LOSS_SYMBOL,
    ChainStep,
    Derivation,
    Hessian,
    MatrixDerivation,
    check_expanded_gradient,
    check_expanded_hessian,
    derive,
)
from symgd.derivation.scalar import KINK_CONVENTION_LATEX, KINK_CONVENTION_WORDS
from symgd.notes.document import (
    Code,
    Equation,
    Figure,
    Notation,
    Notes,
    Part,
    PartialDerivative,
    Prose,
    Rendered,
    Section,
)
from symgd.render import matrix_latex
from symgd.render.printing import local_product
from symgd.render.tensors import tensor_latex

__all__ = ["ALPHA", "Builder", "derivation_body"]

#: The learning rate, the example index and the objective, as the notes print them.
ALPHA = sympy.Symbol("alpha", positive=True)
_INDEX = sympy.Symbol("i", integer=True, positive=True)
_J = sympy.Symbol("J", real=True)


class Builder:
    """Collects the sections of one note (mutable while building only).

    Attributes:
        topic: The catalogue key, the prefix of equation and figure labels.
        figures_dir: Where figures go; ``None`` builds no figures (and trains nothing).
        with_code: Whether the note compiles its objective and shows the code that runs.
        formulas: Named SymPy results shown in the note.
        constant_data: Data columns with one value for every example (no index ``i``).
        derivations: The derivations shown.
        parts: The parts of the section being written.
    """

    def __init__(
        self, topic: str, notation: Notation, figures: Path | None, *, with_code: bool = True
    ) -> None:
        self.topic = topic
        self.notation = notation
        self.printer = notation.printer()
        self.figures_dir = figures
        self.with_code = with_code
        self.sections: list[Section] = []
        self.parts: list[Part] = []
        self.heading = ""
        self.formulas: dict[str, sympy.Expr] = {}
        self.derivations: list[Derivation] = []
        self.figure_paths: list[Path] = []
        self.rows: dict[str, str] = {}
        #: Data columns that hold one value for every example: shown without the index i.
        self.constant_data: set[sympy.Symbol] = set()

    @property
    def trains(self) -> bool:
        """Whether the note compiles, trains and draws figures."""
        return self.with_code and self.figures_dir is not None

    # -- printing
    def tex(self, expr: sympy.Basic) -> str:
        return self.printer.doprint(expr)

    def partial(self, top: sympy.Basic, bottom: sympy.Basic) -> str:
        return self.tex(PartialDerivative(top, bottom))

    def chain_of_partials(self, step: ChainStep) -> str:
        """``∂ℓ/∂a ∂a/∂θ + …``: one product of partial derivatives per path."""
        return " + ".join(
            " ".join(self.partial(a, b) for a, b in zip(path, path[1:], strict=False))
            for path in step.paths
        )

    def at_step(self, param: sympy.Symbol, step: str) -> sympy.Symbol:
        """``w^{(t)}``: the step as a bracketed superscript, so subscripts stay free."""
        name = self.notation.renames.get(param.name, param.name)
        return sympy.Symbol(f"{name}^({step})", real=True)

    # -- structure
    def section(self, heading: str) -> None:
        self._close()
        self.heading = heading

    def _close(self) -> None:
        if self.heading:
            self.sections.append(Section(self.heading, tuple(self.parts)))
        self.parts = []

    def say(self, text: str, *math: sympy.Basic | str) -> None:
        shown = tuple(m if isinstance(m, str) else self.tex(m) for m in math)
        self.parts.append(Prose(text, shown))

    def equations(self, *lines: tuple[str, str, Sequence[str]]) -> None:
        """A block of numbered equations, each ``(label name, lhs, right-hand sides)``."""
        block = tuple(Equation(f"eq:{self.topic}:{n}", lhs, tuple(rhs)) for n, lhs, rhs in lines)
        self.parts.append(block)

    def note(self, symbol_: sympy.Basic | str, meaning: str) -> None:
        """A row of the notation table (the first meaning given for a symbol stays)."""
        shown = symbol_ if isinstance(symbol_, str) else self.tex(symbol_)
        self.rows.setdefault(shown, meaning)

    def figure(
        self, name: str, caption: str, draw: Callable[[Path], Path], *, width: float = 0.8
    ) -> None:
        if self.figures_dir is None:
            return
        path = draw(self.figures_dir / f"{self.topic}-{name}.png")
        self.figure_paths.append(path)
        self.parts.append(Figure(path, caption, f"fig:{self.topic}:{name}", width))

    def code(self, caption: str, source: str, latex_text: str = "") -> None:
        self.parts.append(Code(caption, latex_text, source))

    def finish(self, title: str) -> Notes:
        self._close()
        return Notes(
            self.topic,
            title,
            tuple(self.rows.items()),
            tuple(self.sections),
            dict(self.formulas),
            tuple(self.derivations),
            tuple(self.figure_paths),
        )

    def matrix_form(
        self,
        derivation: MatrixDerivation,
        hessian: Hessian | None = None,
        *,
        names: dict[str, str] | None = None,
    ) -> None:
        """The derivation in matrix form (render's block), checked element by element first."""
        checks = [check_expanded_gradient(derivation)]
        checks += [check_expanded_hessian(hessian)] if hessian else []
        for check in checks:
            if not check.passed:
                raise ArithmeticError(f"the matrix form differs from sympy.diff at {check.where}")
        obj = derivation.objective
        for s in (*obj.params, *obj.data):
            shape = obj.shape(s)
            if shape:
                role = "parameter" if s in obj.params else "data"
                sizes = [f"${self.tex(n)}$" for n in shape]
                meaning = (
                    f"{role} vector of {sizes[0]} entries"
                    if len(shape) == 1
                    else f"{role} matrix, {sizes[0]} by {sizes[1]}"
                )
                self.note(tensor_latex(obj.graph, s), meaning)
        for node, op in obj.graph.nodes.items():
            if op.kind == "let" and op.shape:
                self.note(tensor_latex(obj.graph, node), "intermediate of all examples, below")
        shown = matrix_latex(derivation, hessian, names=names)
        for symbol_, meaning in (
            (r"\mathbf{1}", "vector of ones"),
            (r"\odot", "element-wise product"),
        ):
            if symbol_ in shown:
                self.note(symbol_, meaning)
        aligned = matrix_latex(derivation, hessian, names=names, environment="aligned")
        self.parts.append(Rendered(shown, f"$$\n{aligned}\n$$\n"))
        for p, gradient in derivation.gradient.items():
            self.formulas[f"vector dJ/d{p.name}"] = gradient
        for (q, p), block in (hessian.blocks if hessian else {}).items():
            self.formulas[f"vector d2J/d{q.name}d{p.name}"] = block

    # -- a derivation, step by step
    def objective_notation(self, obj: Objective) -> None:
        for p in obj.params:
            self.note(p, "parameter")
        for d in obj.data:
            constant = d in self.constant_data
            self.note(
                d,
                "a constant, the same for every example"
                if constant
                else "data value of one example",
            )
        for name, definition in obj.intermediates:
            self.note(name, "a fixed value" if definition.is_number else "named intermediate")
        self.note(LOSS_SYMBOL, "loss of one example")
        self.note(_J, "objective: the loss averaged over the examples")
        self.note(obj.examples, "number of examples")
        self.note(ALPHA, "learning rate")
        if obj.l2:
            self.note(obj.l2_symbol, "strength of the L2 penalty")

    def model(self, obj: Objective, key: str = "") -> None:
        """The intermediates, the loss of one example and the objective, numbered.

        An intermediate that is a plain number (a fixed setting such as λ = 0.1) is stated
        in a sentence after the block instead.
        """
        constants = [(n, d) for n, d in obj.intermediates if d.is_number]
        lines = [
            (f"{key}def-{n}", self.tex(n), [self.tex(d)])
            for n, d in obj.intermediates
            if not d.is_number
        ]
        lines.append((f"{key}loss", self.tex(LOSS_SYMBOL), [self.tex(obj.loss)]))
        ell = sympy.IndexedBase(LOSS_SYMBOL)[_INDEX]
        total = sympy.Sum(ell, (_INDEX, 1, obj.examples))
        if obj.reduction == "mean":
            total = total / obj.examples
        if obj.l2:
            total += obj.l2_symbol / 2 * sympy.Add(*(p**2 for p in obj.params))
        args = ", ".join(self.tex(p) for p in obj.params)
        lines.append((f"{key}objective", rf"J\left({args}\right)", [self.tex(total)]))
        self.equations(*lines)
        # A fixed number is a setting, stated in words, not a numbered equation.
        fixed = [sympy.Eq(n, d, evaluate=False) for n, d in constants]
        if obj.l2:
            fixed.append(sympy.Eq(obj.l2_symbol, sympy.Float(obj.l2), evaluate=False))
            self.say(
                "The L2 penalty is on every parameter, as asked; unasked, the notes penalise "
                "the weights only, never a bias."
            )
        if fixed:
            listed = ", ".join(f"{{{n}}}" for n in range(len(fixed)))
            self.say(f"Fixed values: {listed}.", *fixed)

    def chain(self, derivation: Derivation, key: str = "", *, long: int = 150) -> None:
        """Chain rule per parameter and its dataset gradient, as numbered equations."""
        for step in derivation.steps:
            p = step.param
            local = " + ".join(local_product(fs, self.printer) for fs in step.local_derivatives)
            values = [self.chain_of_partials(step), local, self.tex(step.in_intermediates)]
            result = self.tex(step.result)
            if len(result) <= long:
                values.append(result)
            lhs = self.partial(LOSS_SYMBOL, p)
            rhs = list(dict.fromkeys(v for v in values if v and v != lhs))
            gradient = self._dataset_gradient(derivation, step, long=long)
            paths = "one path" if len(step.paths) == 1 else f"{len(step.paths)} paths"
            self.say(f"Gradient with respect to {{0}}, by the chain rule through {paths}:", p)
            self.equations(
                (f"{key}chain-{p.name}", lhs, rhs),
                (f"{key}grad-{p.name}", self.partial(_J, p), [self.tex(gradient)]),
            )
            self.formulas[f"{key}dl/d{p.name}"] = step.result
            self.formulas[f"{key}dJ/d{p.name}"] = gradient
        self.derivations.append(derivation)

    def kink_convention(self) -> None:
        """The convention at a kink (:data:`symgd.derivation.scalar.KINK_CONVENTION`)."""
        self.say(KINK_CONVENTION_WORDS, *KINK_CONVENTION_LATEX)

    def _dataset_gradient(
        self, derivation: Derivation, step: ChainStep, *, long: int
    ) -> sympy.Expr:
        """``∂J/∂θ`` summed over the examples; written with the intermediates when it is long."""
        obj = derivation.objective
        summand = step.result
        varying = tuple(d for d in obj.data if d not in self.constant_data)
        if len(self.tex(summand)) > long:
            # Intermediates that depend on the data vary over the examples too: a_{1,i}, p_i;
            # one built from constants and parameters alone keeps no subscript.
            summand = step.in_intermediates
            for name, definition in obj.intermediates:
                if definition.free_symbols & set(varying):
                    varying += (name,)
        indexed = summand.xreplace({d: sympy.IndexedBase(d)[_INDEX] for d in varying})
        total = sympy.Sum(indexed, (_INDEX, 1, obj.examples))
        if obj.reduction == "mean":
            total = total / obj.examples
        if obj.l2:
            total += obj.l2_symbol * step.param
        return total

    def update_rules(self, derivation: Derivation, key: str = "") -> None:
        """``θ^{(t+1)} = θ^{(t)} − α ∂J/∂θ(θ^{(t)})`` for every parameter, numbered."""
        lines = []
        theta = sympy.Symbol("thetabold^(t)", real=True)
        for p in derivation.objective.params:
            update = self.at_step(p, "t") - ALPHA * PartialDerivative(_J, p, theta)
            self.formulas[f"{key}update {p.name}"] = update
            lines.append(
                (f"{key}update-{p.name}", self.tex(self.at_step(p, "t+1")), [self.tex(update)])
            )
        self.equations(*lines)


def derivation_body(b: Builder, obj: Objective, key: str = "", *, kinks: bool = True) -> Derivation:
    """The three sections every derivation note opens with: model, gradients, update rule.

    Where a gradient has cases (a kink), the kink convention is quoted after the gradients,
    unless ``kinks`` is false (a note that states it in a section of its own).
    """
    derivation = derive(obj)
    b.objective_notation(obj)
    b.section("Model and objective")
    b.say("The model, the loss of one example and the objective, averaged over the examples:")
    b.model(obj, key)
    b.section("Gradients by the chain rule")
    b.say(
        "Each line multiplies the local derivatives along the paths from the loss to the "
        "parameter; every result was checked against a direct differentiation."
    )
    b.chain(derivation, key)
    if kinks and any(step.result.has(sympy.Piecewise) for step in derivation.steps):
        b.kink_convention()
    b.section("Update rule")
    b.say("Gradient descent moves every parameter against its partial derivative:")
    b.update_rules(derivation, key)
    return derivation
