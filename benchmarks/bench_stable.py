"""Stable compiled code: accuracy against mpmath, and speed against the naive code.

Two measurements, printed side by side in one run:

1. **Accuracy.** For every row of :data:`ROWS` (activations, losses and their
   derivatives, written the ways users write them) the compiled stable code is
   evaluated over ``z ∈ [−10⁴, 10⁴]`` (including ±800, ±30, 0 and tiny values; for
   softmax cross-entropy, logits up to ±10⁴) and compared with ``mpmath`` at 50
   digits. The error is ``|computed − true| / max(|true|, tiny)``, ``tiny`` the
   smallest normal number of the dtype (a true value below it is underflow).
   A non-finite result where the true value is finite counts as error ``inf``.
2. **Speed.** Stable and naive (``stable=False``) compiled code, median time of each
   and the ratio, on inputs where the naive code does not overflow.

Run: ``python benchmarks/bench_stable.py`` (about half a minute on 2 cores).
``tests/test_stable.py`` runs the accuracy part as a test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import mpmath
import numpy
import sympy
from _timing import interleaved

from symgd import compile_objective, derive, logistic_regression
from symgd.compile import HEAVISIDE_AT_ZERO, compile_expression
from symgd.derivation import lecturer_form
from symgd.functions import expand_named_functions, sigmoid

z, y = sympy.symbols("z y", real=True)
LOGITS = sympy.symbols("z1 z2 z3", real=True)


@dataclass(frozen=True)
class Row:
    """One function to check: a SymPy expression and the points to check it at."""

    name: str
    expression: sympy.Expr
    symbols: tuple[sympy.Symbol, ...] = (z,)
    #: ``(low, high)``: where the true value is finite and real (open interval).
    domain: tuple[float, float] = (-numpy.inf, numpy.inf)
    #: The true value grows like ``e^z``: points where it overflows the dtype are left out.
    exponential: bool = False


def scalar_points() -> numpy.ndarray:
    """``z`` over ``[−10⁴, 10⁴]``: 0, tiny values, ±30, ±800, overflow edges, a log grid."""
    magnitudes = numpy.concatenate(
        [
            [1e-300, 1e-30, 1e-10, 30.0, 36.7, 709.0, 710.0, 745.0, 800.0, 1e4],
            numpy.logspace(-8, 4, 61),
        ]
    )
    return numpy.unique(numpy.concatenate([[0.0], magnitudes, -magnitudes]))


def logit_points() -> numpy.ndarray:
    """Triples of logits up to ±10⁴, every combination of a set of hard values."""
    values = [-1e4, -800.0, -30.0, -1.0, 0.0, 1e-10, 0.5, 30.0, 800.0, 1e4]
    return numpy.array(list(itertools.product(values, repeat=3))).T


def _activations() -> list[Row]:
    gelu = z / 2 * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (z + sympy.Float("0.044715") * z**3)))
    table = {
        "identity": z,
        "sigmoid σ(z)": sigmoid(z),
        "sigmoid 1/(1+exp(-z))": 1 / (1 + sympy.exp(-z)),
        "sigmoid exp(z)/(1+exp(z))": sympy.exp(z) / (1 + sympy.exp(z)),
        "tanh": sympy.tanh(z),
        "ReLU": sympy.Max(0, z),
        "leaky ReLU": sympy.Max(z, z / 100),
        "softplus log(1+exp(z))": sympy.log(1 + sympy.exp(z)),
        "SiLU z·σ(z)": z * sigmoid(z),
        "GELU (tanh)": gelu,
    }
    rows = _with_derivatives(table)
    for name, expression, domain in [
        ("log1p written log(1+z)", sympy.log(1 + z), (-1.0, numpy.inf)),
        ("expm1 written exp(z)-1", sympy.exp(z) - 1, (-numpy.inf, numpy.inf)),
    ]:
        grows = "exp" in name
        rows.append(Row(name, expression, domain=domain, exponential=grows))
        rows.append(Row(f"{name}'", sympy.diff(expression, z), domain=domain, exponential=grows))
    return rows


def _losses() -> list[Row]:
    p_forms = {
        "σ": sigmoid(z),
        "1/(1+exp(-z))": 1 / (1 + sympy.exp(-z)),
        "exp(z)/(1+exp(z))": sympy.exp(z) / (1 + sympy.exp(z)),
    }
    table = {"squared error (y=0.5)": (sympy.Rational(1, 2) - z) ** 2 / 2}
    for label, p in p_forms.items():
        for label_y in (0, 1):
            bce = -y * sympy.log(p) - (1 - y) * sympy.log(1 - p)
            table[f"BCE on p={label}, y={label_y}"] = bce.subs(y, label_y)
    for label_y in (0, 1):
        logits = y * sympy.log(1 + sympy.exp(-z)) + (1 - y) * sympy.log(1 + sympy.exp(z))
        table[f"BCE on logits, y={label_y}"] = logits.subs(y, label_y)
    table["Huber (δ=1)"] = sympy.Piecewise(
        (z**2 / 2, sympy.Abs(z) <= 1), (sympy.Abs(z) - sympy.Rational(1, 2), True)
    )
    rows = _with_derivatives(table)
    z1, z2, z3 = LOGITS
    total = sympy.exp(z1) + sympy.exp(z2) + sympy.exp(z3)
    cross_entropy = -sympy.log(sympy.exp(z1) / total)
    rows.append(Row("softmax cross-entropy, y=e1", cross_entropy, LOGITS))
    for k, logit in enumerate(LOGITS, 1):
        gradient = lecturer_form(sympy.diff(cross_entropy, logit))
        rows.append(Row(f"softmax cross-entropy d/dz{k}", gradient, LOGITS))
    rows.append(Row("log-sum-exp", sympy.log(total), LOGITS))
    rows.append(Row("softmax_2", sympy.exp(z2) / total, LOGITS))
    return rows


def _with_derivatives(table: dict[str, sympy.Expr]) -> list[Row]:
    rows = []
    for name, expression in table.items():
        rows.append(Row(name, expression))
        rows.append(Row(f"{name}'", lecturer_form(sympy.diff(expression, z))))
    return rows


#: Every function checked: built-in activations and losses and their derivatives.
ROWS: tuple[Row, ...] = (*_activations(), *_losses())


def _reference(row: Row, heaviside_at_zero: float):
    """The row's expression as an mpmath function of mpf arguments."""
    expression = expand_named_functions(row.expression)
    expression = expression.replace(
        lambda e: isinstance(e, sympy.Heaviside),
        lambda e: sympy.Piecewise(
            (0, e.args[0] < 0), (heaviside_at_zero, sympy.Eq(e.args[0], 0)), (1, True)
        ),
    )
    # Our own SymPy expression, never user text.
    return sympy.lambdify(row.symbols, expression, modules="mpmath")


def _true_value(reference, args: list[float]) -> mpmath.mpf:
    """The reference value correct to 50 digits.

    50 working digits are not enough for the textbook form everywhere
    (``log(1 + e^{−10⁴})`` needs 4343 digits to see anything but ``log 1``), so the
    precision doubles until two evaluations agree to 45 digits (a zero is believed only
    at 400 digits: a cancellation can hide a value, but not one above the underflow
    threshold of either dtype, 1e-308).
    """
    digits, previous = 50, None
    while True:
        with mpmath.workdps(digits):
            value = reference(*(mpmath.mpf(a) for a in args))
            if previous is not None and (
                abs(value - previous) <= mpmath.mpf(10) ** -45 * abs(value)
                if value != 0
                else previous == 0 and digits >= 400
            ):
                return +value
        if digits > 20_000:
            raise ArithmeticError(f"no stable reference value at {args}")
        previous, digits = value, digits * 2


def worst_error(
    row: Row, dtype: type = numpy.float64, heaviside_at_zero: float = HEAVISIDE_AT_ZERO
) -> tuple[float, tuple[float, ...]]:
    """The worst relative error of the stable compiled row and where it occurs."""
    points = scalar_points()[None] if len(row.symbols) == 1 else logit_points()
    low, high = row.domain
    if row.exponential:
        high = min(high, float(numpy.log(numpy.finfo(dtype).max)))
    points = points[:, numpy.all((points > low) & (points < high), axis=0)].astype(dtype)
    compiled = compile_expression(
        row.expression, row.symbols, dtype=dtype, heaviside_at_zero=heaviside_at_zero
    )
    # Overflow, nan and division by zero fail; underflow of a tiny true value is rounding.
    with numpy.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        got = numpy.asarray(compiled(*points), dtype=numpy.float64)
    reference = _reference(row, heaviside_at_zero)
    tiny = float(numpy.finfo(dtype).tiny)
    worst, where = 0.0, ()
    for index in range(points.shape[1]):
        true = _true_value(reference, [float(v) for v in points[:, index]])
        with mpmath.workdps(50):
            error = abs(mpmath.mpf(float(got[index])) - true) / max(abs(true), tiny)
            error = float(error) if numpy.isfinite(got[index]) else float("inf")
            if error > worst or numpy.isnan(error):
                worst, where = error, tuple(float(v) for v in points[:, index])
    return worst, where


def accuracy_table(dtype: type = numpy.float64) -> list[tuple[str, float, tuple]]:
    """``(row name, worst relative error, where)`` for every row."""
    return [(row.name, *worst_error(row, dtype)) for row in ROWS]


def speed() -> list[tuple[str, float, float]]:
    """``(workload, naive seconds, stable seconds)``, medians measured side by side."""
    rng = numpy.random.default_rng(0)
    results = []
    m, d = 100_000, 10
    features = rng.standard_normal((m, d))
    labels = (features @ rng.standard_normal(d) > 0).astype(float)
    derivation = derive(logistic_regression(features=d))
    data = {f"x{j + 1}": features[:, j] for j in range(d)} | {"y": labels}
    theta = 0.1 * rng.standard_normal(d + 1)
    stable, naive = (compile_objective(derivation, stable=s) for s in (True, False))
    X = stable.prepare(data)
    times = interleaved(
        {
            "naive": lambda: naive.loss_and_gradient(theta, X),
            "stable": lambda: stable.loss_and_gradient(theta, X),
        }
    )
    results.append(
        ("logistic regression loss+gradient, m=1e5, d=10", times["naive"], times["stable"])
    )
    values = rng.uniform(-20, 20, 1_000_000)
    for row in ROWS:
        if row.name not in ("sigmoid σ(z)", "sigmoid σ(z)'", "softplus log(1+exp(z))", "tanh'"):
            continue
        fast, slow = (
            compile_expression(row.expression, row.symbols, stable=s) for s in (True, False)
        )
        times = interleaved(
            {
                "naive": lambda f=slow: f.function(values),
                "stable": lambda f=fast: f.function(values),
            }
        )
        results.append((f"{row.name}, 1e6 values", times["naive"], times["stable"]))
    return results


def main() -> None:
    for dtype in (numpy.float64, numpy.float32):
        table = accuracy_table(dtype)
        print(f"\nworst relative error against mpmath (50 digits), {dtype.__name__}")
        for name, error, where in table:
            print(f"  {name:42s} {error:9.2e}  at {where}")
        name, error, where = max(table, key=lambda t: t[1])
        print(f"  WORST: {name} {error:.2e} at {where}")
    print("\nstable vs naive compiled code (median, side by side)")
    for name, naive, stable in speed():
        print(
            f"  {name:48s} naive {naive * 1e3:8.3f} ms  stable {stable * 1e3:8.3f} ms  "
            f"ratio {stable / naive:.2f}x"
        )


if __name__ == "__main__":
    main()
