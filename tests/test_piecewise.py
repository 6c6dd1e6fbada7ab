"""Piecewise losses (Huber, hinge, pinball, ε-insensitive, ReLU-style) end to end.

Parse → derive (cases, never ``DiracDelta``) → render (pdflatex) → compile (stable and naive)
→ train, gradcheck and check through the CLI, against hand-written NumPy gradients, with the
kink convention (subgradient 0 at the kink, ``H(0) = 0``) checked at the kinks themselves.
"""

from __future__ import annotations

import numpy
import pytest
import sympy
from numpy.testing import assert_allclose

from symgd.cli import main
from symgd.compile import compile_network, compile_objective
from symgd.compile.printer import NetworkPrinter, Printer
from symgd.define import network, objective
from symgd.derivation import derive
from symgd.derivation.scalar import almost_everywhere_derivative, as_piecewise
from symgd.notes import build_notes, to_tex
from symgd.notes.topics.huber_and_hinge import fit_slopes, outlier_data
from symgd.parse import ParseError, parse_expression
from symgd.render import to_latex

R = "(w*x + b - y)"
# name -> (loss text, hand-written dl/dw and dl/db at w, b, x, y, kink convention included)
LOSSES = {
    "huber-min": (
        f"Min(abs{R}, 1)**2/2 + abs{R} - Min(abs{R}, 1)",
        lambda r, x, y: (numpy.where(abs(r) < 1, r, numpy.sign(r)) * x,),
    ),
    "huber-piecewise": (
        f"Piecewise(({R}**2/2, abs{R} <= 1), (abs{R} - 1/2, True))",
        lambda r, x, y: (numpy.where(abs(r) <= 1, r, numpy.sign(r)) * x,),
    ),
    "hinge": (
        "Max(0, 1 - y*(w*x + b))",
        lambda r, x, y: (numpy.where(y * (r + y) < 1, -y, 0.0) * x,),
    ),
    "pinball": (
        "Max(0.3*(y - w*x - b), (0.3 - 1)*(y - w*x - b))",
        lambda r, x, y: (numpy.where(r < 0, -0.3, 0.7) * x,),
    ),
    "epsilon-insensitive": (
        f"Max(0, abs{R} - 0.5)",
        lambda r, x, y: (numpy.where(abs(r) > 0.5, numpy.sign(r), 0.0) * x,),
    ),
    "relu": (f"Max(0, {R})", lambda r, x, y: (numpy.where(r > 0, 1.0, 0.0) * x,)),
}

# Points (w, b) = (1, 0.25) and data with residuals r = w x + b − y on both sides of every kink
# and exactly at 0, ±0.5, ±1 (and margins exactly 1 for the hinge, y = ±1 there).
W, B = 1.0, 0.25
X = numpy.array([0.5, -1.0, 2.0, 0.75, 1.5, -0.25, 0.5, 3.0, -2.0, 0.0, 1.0, 0.25])
RESIDUAL = numpy.array([0.0, 0.5, -0.5, 1.0, -1.0, 0.2, -0.3, 2.5, -4.0, 0.75, 1e-3, -0.6])
Y = W * X + B - RESIDUAL
HINGE_Y = numpy.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0])
HINGE_X = (1.0 / HINGE_Y - B) / W  # margin y (w x + b) exactly 1: the hinge's kink
HINGE_X[6:] = X[6:]


def data_for(name: str) -> dict[str, numpy.ndarray]:
    if name == "hinge":
        return {"x": HINGE_X, "y": HINGE_Y}
    return {"x": X, "y": Y}


def expected_gradient(name: str, data: dict) -> dict[str, float]:
    """The hand-written gradient, averaged over the examples (∂r/∂b = 1, ∂r/∂w = x)."""
    x, y = data["x"], data["y"]
    r = W * x + B - y
    (dw,) = LOSSES[name][1](r, x, y)
    (db,) = LOSSES[name][1](r, numpy.ones_like(x), y)
    return {"w": float(numpy.mean(dw)), "b": float(numpy.mean(db))}


@pytest.fixture(scope="module")
def derivations():
    return {name: derive(objective(text, "w,b", "x,y")) for name, (text, _) in LOSSES.items()}


@pytest.mark.parametrize("name", list(LOSSES))
def test_derivative_is_cases_never_dirac(derivations, name):
    derivation = derivations[name]
    for step in derivation.steps:
        assert not step.result.has(sympy.DiracDelta, sympy.Heaviside, sympy.Max, sympy.Min)
        assert step.result.has(sympy.Piecewise) or step.result.has(sympy.sign)
    latex = to_latex(derivation)
    assert "DiracDelta" not in latex and "delta(" not in latex.lower()
    assert r"\begin{cases}" in latex


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("stable", [True, False])
def test_compiled_gradient_matches_hand_gradient_at_the_kinks(derivations, name, stable):
    compiled = compile_objective(derivations[name], stable=stable)
    data = data_for(name)
    assert "functools" not in compiled.source  # the listing runs with only numpy imported
    found = compiled.gradient({"w": W, "b": B}, data)
    expected = expected_gradient(name, data)
    assert_allclose([found["w"], found["b"]], [expected["w"], expected["b"]], rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        # Huber with the middle case missing: the slope everywhere.
        ("huber-piecewise", lambda r, x, y: (numpy.sign(r) * x,)),
        # The hinge with the other side of the kink (-y at margin 1): the convention violated.
        ("hinge", lambda r, x, y: (numpy.where(y * (r + y) <= 1, -y, 0.0) * x,)),
        # ReLU with H(0) = 1/2.
        ("relu", lambda r, x, y: (numpy.where(r > 0, 1.0, numpy.where(r == 0, 0.5, 0.0)) * x,)),
    ],
)
def test_a_wrong_derivative_fails(derivations, monkeypatch, name, wrong):
    compiled = compile_objective(derivations[name])
    data = data_for(name)
    monkeypatch.setitem(LOSSES, name, (LOSSES[name][0], wrong))
    found = compiled.gradient({"w": W, "b": B}, data)
    expected = expected_gradient(name, data)
    assert not numpy.allclose([found["w"], found["b"]], [expected["w"], expected["b"]])


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Max(0, u)", "Piecewise((1, u > 0), (0, True))"),
        ("Heaviside(u)*u", "Piecewise((1, u > 0), (0, True))"),
        ("sign(u)*u", "sign(u)"),
        ("abs(u)", "sign(u)"),
        ("Heaviside(u)", "0"),
        ("Min(u, 1)", "Piecewise((1, u < 1), (0, True))"),
        ("Max(u/10, u)", "Piecewise((1/10, u < 0), (1, True))"),
    ],
)
def test_derivative_almost_everywhere(expr, expected):
    u = sympy.Symbol("u", real=True)
    found = almost_everywhere_derivative(parse_expression(expr), u)
    assert not found.has(sympy.DiracDelta)
    # Equal on both sides of the kink and at the kink itself (the convention).
    for value in (-2, -1, sympy.Rational(-1, 2), 0, sympy.Rational(1, 2), 1, 2):
        assert found.subs(u, value) == parse_expression(expected).subs(u, value), value


def test_as_piecewise_ties_go_to_the_number():
    u = sympy.Symbol("u", real=True)
    for function in (sympy.Max(0, u), sympy.Min(0, u), sympy.Heaviside(u)):
        assert as_piecewise(function).subs(u, 0) == 0
    assert sympy.diff(as_piecewise(sympy.Max(0, u)), u).subs(u, 0) == 0


@pytest.mark.parametrize(
    "text",
    [
        "Piecewise((x**2/2, abs(x) <= 1), (abs(x) - 1/2, True))",
        "Piecewise((x, x < 1), (1, True))",
        "Piecewise((0, x > 2), (x, x >= -1), (-1, True))",
        "Max(0, x) + Min(x, 1) + Abs(x)",
    ],
)
def test_parser_accepts_piecewise(text):
    assert parse_expression(text).free_symbols == {sympy.Symbol("x", real=True)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x < 1", "comparison outside a Piecewise condition"),
        ("Max(x < 1, 0)", "comparison outside a Piecewise condition"),
        ("Piecewise((x, x < 1))", "without a last case (value, True)"),
        ("Piecewise((x, True), (1, True))", "only the last case may hold otherwise"),
        ("Piecewise((x, x == 1), (1, True))", "one comparison of two expressions"),
        ("Piecewise((x, 0 < x < 1), (1, True))", "one comparison of two expressions"),
        ("Piecewise((x, (x < 1) & (x > 0)), (1, True))", "write one comparison"),
        ("Piecewise((x, 1 < 2), (1, True))", "always True"),
        ("Piecewise(x, 1)", "Piecewise case 1"),
        ("Piecewise((x, __import__('os') < 1), (1, True))", "unknown function '__import__'"),
        ("Piecewise((x, x < 9**9**9**9), (1, True))", "too large"),
        ("Piecewise(" + ", ".join(f"(x, x < {k})" for k in range(12)) + ", (0, True))", "than 8"),
    ],
)
def test_parser_refuses_bad_piecewise(text, message):
    with pytest.raises(ParseError) as error:
        parse_expression(text)
    assert message in str(error.value)


def test_relu_derivative_at_zero_is_zero_in_objectives_and_networks():
    z = sympy.Symbol("z", real=True)
    for printer in (Printer(), Printer(stable=False), NetworkPrinter()):
        assert printer.doprint(sympy.Heaviside(z)) == "numpy.heaviside(z, 0.0)"
    # Scalar objective: the residual is exactly 0 at every example.
    relu = compile_objective(derive(objective("Max(0, w*x + b - y)", "w,b", "x,y")))
    assert relu.gradient({"w": 1.0, "b": 0.0}, {"x": [1.0, 2.0], "y": [1.0, 2.0]}) == {
        "w": 0.0,
        "b": 0.0,
    }
    # Network: the hidden unit's z is exactly 0, so nothing flows into the first layer.
    net = compile_network(network("1,1,1", activation="relu", loss="mse"))
    theta = net.initial_theta()
    views = net.views(theta)
    views["W1"][...], views["b1"][...], views["W2"][...], views["b2"][...] = 1.0, -1.0, 1.0, 0.0
    gradient = net.views(net.gradient(theta, numpy.ones((1, 1)), numpy.ones((1, 1))))
    assert gradient["W1"].item() == 0.0 and gradient["b1"].item() == 0.0
    assert gradient["b2"].item() != 0.0


@pytest.fixture
def csv_of(tmp_path):
    def write(name: str):
        data = data_for(name)
        path = tmp_path / f"{name}.csv"
        rows = ["x,y"] + [f"{float(a)!r},{float(c)!r}" for a, c in zip(data["x"], data["y"])]
        path.write_text("\n".join(rows) + "\n")
        return str(path)

    return write


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "DiracDelta" not in out + err
    return code, out, err


@pytest.mark.parametrize("name", list(LOSSES))
def test_cli_derives_trains_and_checks(csv_of, capsys, name):
    loss, csv = LOSSES[name][0], csv_of(name)
    common = [loss, "--params", "w,b", "--data", "x,y"]
    code, out, _ = run(["derive", *common], capsys)
    assert code == 0 and "Piecewise" in out
    code, out, _ = run(
        ["train", *common, "--csv", csv, "--init", "w=0.37,b=0.11", "--lr", "0.1", "--epochs", "5"],
        capsys,
    )
    assert code == 0, out
    # Away from the kinks (at one, central differences average the two sides).
    code, out, _ = run(["gradcheck", *common, "--csv", csv, "--at", "w=0.37,b=0.11"], capsys)
    assert code == 0 and "PASSED" in out


@pytest.mark.parametrize(
    ("grad", "code"),
    [
        ("w=Piecewise((x*(w*x+b-y), abs(w*x+b-y) <= 1), (x*sign(w*x+b-y), True))", 0),
        ("w=x*sign(w*x+b-y)", 1),  # the quadratic case is missing
        ("w=x*(w*x+b-y) < 1", 2),  # a comparison outside a Piecewise
    ],
)
def test_cli_check_of_a_hand_derived_huber_gradient(capsys, grad, code):
    loss = LOSSES["huber-piecewise"][0]
    found, out, err = run(
        ["check", loss, "--params", "w,b", "--data", "x,y", "--grad", grad], capsys
    )
    assert found == code, out + err
    if code == 2:
        assert err.count("\n") == 1


def test_notes_of_a_piecewise_loss_compile(tmp_path, capsys, pdflatex):
    for name in ("huber-min", "hinge"):
        target = tmp_path / f"{name}.tex"
        code, _, _ = run(
            [
                "notes",
                "--loss",
                LOSSES[name][0],
                "--params",
                "w,b",
                "--data",
                "x,y",
                "-o",
                str(target),
            ],
            capsys,
        )
        assert code == 0
        source = target.read_text()
        assert r"\begin{cases}" in source and "DiracDelta" not in source
        pdflatex(source, name)


def test_huber_and_hinge_topic_compiles(tmp_path, pdflatex):
    notes = build_notes("huber-and-hinge", figures=tmp_path)
    source = to_tex(notes, relative_to=tmp_path)
    assert r"\begin{cases}" in source and "DiracDelta" not in source
    assert notes.figures and all(path.exists() for path in notes.figures)
    pdflatex(source, "huber-and-hinge")


def test_huber_is_pulled_less_by_outliers_than_the_squared_loss():
    fits = fit_slopes(outlier_data())
    assert abs(fits["huber"]["w"] - 2.0) < 0.25 < abs(fits["squared"]["w"] - 2.0)
