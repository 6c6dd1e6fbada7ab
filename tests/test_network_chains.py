"""Every displayed network chain ``A = B = C`` is a chain of true equalities.

The renderer (:mod:`symgd.render.network`) keeps, for every side it prints, the SymPy object the
side stands for. Each chain is split into consecutive pairs and each pair is compared at random
points (integer indices and bounds made concrete, then random reals), after substituting what the
line assumes (``a = σ(z)``, ``p = softmax(z)``, one-hot targets summing to one).
"""

from __future__ import annotations

import math

import numpy
import pytest
import sympy

from symgd.define import network
from symgd.derivation import derive_network
from symgd.derivation.scalar import expand_named_functions
from symgd.render import ShownEquation, Side, network_equations, network_latex

ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky-relu", "softplus", "silu", "gelu", "identity")
_POINTS = 3
_BOUNDS = {"n", "k", "m"}


def _numbers(expr: sympy.Basic, given: dict, rng: numpy.random.Generator, values: dict) -> complex:
    """``expr`` at a random point: indices and bounds made concrete, then every real entry random
    except those ``given`` (``a = σ(z)``, a target fixed by the others), which are evaluated."""
    integers = {s for s in expr.free_symbols if s.is_integer}
    for s in integers - values.keys():
        values[s] = 3 if s.name in _BOUNDS else int(rng.integers(1, 4))
    expr = expand_named_functions(expr.xreplace({s: values[s] for s in integers}).doit())
    atoms = expr.atoms(sympy.Indexed) | {s for s in expr.free_symbols if not s.is_integer}
    numbered = {s: v for s, v in values.items() if getattr(s, "is_integer", False)}
    given = {s.xreplace(numbered): v for s, v in given.items()}  # a[q] -> a[2] as in expr
    for atom in sorted(atoms, key=str):
        if atom in values:  # set already, perhaps while evaluating a given one
            continue
        if atom in given:
            values[atom] = sympy.Float(_numbers(given[atom], given, rng, values).real, 30)
        else:
            values[atom] = sympy.Float(rng.uniform(-1.5, 1.5), 30)
    return complex(sympy.sympify(expr.xreplace({a: values[a] for a in atoms})).evalf(30))


def chain_errors(equation: ShownEquation, seed: int = 0) -> list[str]:
    """Each consecutive pair of sides that differs at a random point, described."""
    if equation.definition:
        return []
    errors, given = [], dict(equation.given)
    meanings = [side.meaning() for side in equation.sides]
    for (left, a), (right, b) in zip(
        zip(equation.sides, meanings), list(zip(equation.sides, meanings))[1:], strict=False
    ):
        for point in range(_POINTS):
            rng, values = numpy.random.default_rng([seed, point]), {}
            x = sympy.Matrix([a]) if not isinstance(a, sympy.MatrixBase) else a
            y = sympy.Matrix([b]) if not isinstance(b, sympy.MatrixBase) else b
            u = [_numbers(e, given, rng, values) for e in x]
            v = [_numbers(e, given, rng, values) for e in y]
            if len(u) != len(v) or any(
                not math.isclose(p.real, q.real, rel_tol=1e-9, abs_tol=1e-9) or abs(p.imag) > 1e-9
                for p, q in zip(u, v, strict=False)
            ):
                errors.append(f"{left.latex}  =  {right.latex}: {u} != {v}")
                break
    return errors


def _cases() -> list[tuple[str, str, str, str | None, float | None]]:
    cases = []
    for act in ACTIVATIONS:
        cases.append(("2,3,1", act, "mse", act, None))  # every output activation under mse
        cases.append(("2,3,1", act, "bce", None, None))
        cases.append(("2,3,2", act, "softmax-cross-entropy", None, None))
    cases.append(("2,2,2,1", "tanh", "mse", "sigmoid", 0.1))  # two recursions, L2
    cases.append(("2,2,1", "sigmoid", "bce", None, None))  # the notes' network topic
    cases.append(("2,3,2", "relu", "mse", "identity", None))
    return cases


@pytest.mark.parametrize(("layers", "hidden", "loss", "output", "l2"), _cases())
def test_every_displayed_chain_is_true(layers, hidden, loss, output, l2):
    net = network(layers, activation=hidden, loss=loss, output_activation=output, l2=l2)
    derivation = derive_network(net, expanded=True)
    checked = 0
    for heading, blocks in network_equations(derivation):
        for block in blocks:
            for equation in block:
                assert chain_errors(equation) == [], heading
                checked += len(equation.sides) - 1 if not equation.definition else 0
    assert checked > net.parameter_count


def _broken(sides, given=()) -> ShownEquation:
    return ShownEquation(tuple(Side(sympy.latex(s), lambda s=s: s) for s in sides), given)


a, y, z = sympy.symbols("a y z", real=True)


@pytest.mark.parametrize(
    ("equation", "wrong"),
    [
        (_broken([a - y, sympy.Integer(1), a - y]), 2),  # the old δ = a − y = 1 = a − y
        (_broken([1 - sympy.tanh(z) ** 2, 1 - a**2]), 1),  # σ' in a without a = tanh(z)
        (_broken([1 - sympy.tanh(z) ** 2, 1 - a**2], ((a, sympy.tanh(z)),)), 0),
        (_broken([sympy.Matrix([a, y]), sympy.Matrix([a, a])]), 1),
    ],
)
def test_the_checker_catches_a_false_chain(equation, wrong):
    assert len(chain_errors(equation)) == wrong


def test_the_reported_false_equation_is_gone():
    text = network_latex(derive_network(network("2,3,1", activation="tanh", loss="mse")))
    output_error = text[text.index(r"\delta^{(2)} =") :].split(r"\tanh\left(z")[0]
    assert r"&= 1 \\" not in output_error
    assert r"\left(a^{(2)} - y\right) \cdot 1" in output_error
