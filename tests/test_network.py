"""Networks: layer rules against sympy.diff, compiled gradients against finite differences,
digits accuracy, rendering, export."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import numpy
import pytest
import sympy

from symgd.compile import compile_network, one_hot
from symgd.data import digits_dataset
from symgd.define import ACTIVATIONS, PREACTIVATION, network, parse_layers
from symgd.derive import EXPANDED_LIMIT, dense_rules, derive_network, is_zero, layer_rule_gradient
from symgd.parse import ParseError
from symgd.render import network_document, network_latex, network_markdown, network_text
from symgd.train import train_network
from symgd.verify import check_gradient

LOSS_NAMES = ["mse", "bce", "softmax-cross-entropy"]


def _equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Symbolic equality: every function application becomes one symbol, then expand.

    Both sides apply the same functions to the same arguments, so the difference is a
    polynomial in those symbols that expands to 0 exactly when the gradients agree.
    """
    difference = a - b
    difference = difference.xreplace({f: sympy.Dummy() for f in difference.atoms(sympy.Function)})
    return sympy.expand(difference) == 0


def _rules_match_diff(derivation) -> dict:
    scalar = derivation.scalar
    ell = scalar.expanded_loss
    constraint = scalar.constraint
    return {
        param: _equal(rule.xreplace(constraint), sympy.diff(ell, param).xreplace(constraint))
        for param, rule in layer_rule_gradient(derivation).items()
    }


CASES = [("2,2,1", name, loss) for name in ACTIVATIONS for loss in ("mse", "bce")] + [
    pytest.param("2,3,2", name, loss, marks=pytest.mark.slow)
    for name in ACTIVATIONS
    for loss in LOSS_NAMES
]


@pytest.mark.parametrize("layers, act, loss", CASES)
def test_layer_rules_equal_diff_of_expanded_loss(layers, act, loss):
    derivation = derive_network(network(layers, activation=act, loss=loss), expanded=True)
    verdicts = _rules_match_diff(derivation)
    assert len(verdicts) == derivation.network.parameter_count
    assert all(verdicts.values()), [str(p) for p, ok in verdicts.items() if not ok]


def test_user_activation_rules_equal_diff():
    derivation = derive_network(
        network("2,2,1", activation="z/(1 + exp(-z))", loss="bce"), expanded=True
    )
    assert all(_rules_match_diff(derivation).values())


def _wrong_tanh():
    tanh = ACTIVATIONS["tanh"]
    # 1 - tanh(z) instead of 1 - tanh(z)**2: the classic slip.
    return dataclasses.replace(tanh, derivative=1 - sympy.tanh(PREACTIVATION))


def test_wrong_sigma_prime_fails_the_symbolic_check():
    net = dataclasses.replace(network("2,2,1", loss="mse"), activation=_wrong_tanh())
    verdicts = _rules_match_diff(derive_network(net, expanded=True))
    first_layer = [p for p in verdicts if "(1)" in p.name]
    assert not any(verdicts[p] for p in first_layer)
    assert all(verdicts[p] for p in verdicts if "(2)" in p.name)  # σ' is not on their path


def test_expanded_chain_for_a_first_layer_weight():
    derivation = derive_network(network("2,2,1", activation="sigmoid"), expanded=True)
    chain = derivation.expanded[1]  # w^{(1)}_{12}
    assert chain.param.name == "w^{(1)}_{12}"
    assert [node.name for node in chain.paths[0][1:]] == [
        "a^{(2)}_{1}",
        "z^{(2)}_{1}",
        "a^{(1)}_{1}",
        "z^{(1)}_{1}",
        "w^{(1)}_{12}",
    ]
    a1, a2, w2, x2, y1 = (
        sympy.Symbol(n, real=True)
        for n in ("a^{(1)}_{1}", "a^{(2)}_{1}", "w^{(2)}_{11}", "x_{2}", "y_{1}")
    )
    assert chain.local_derivatives[0] == (a2 - y1, sympy.Integer(1), w2, a1 * (1 - a1), x2)
    assert is_zero(chain.in_intermediates - (a2 - y1) * w2 * a1 * (1 - a1) * x2)


def test_expanded_limit():
    with pytest.raises(ValueError, match="more than 60"):
        derive_network(network("8,8,1"), expanded=True)
    assert network("2,3,2").parameter_count <= EXPANDED_LIMIT


def test_dense_rules_from_index_notation():
    rules = dense_rules().rules
    W, a, b, delta = (sympy.IndexedBase(n, real=True) for n in ("W", "a", "b", "delta"))
    i, p, q = sympy.symbols("i p q", integer=True, positive=True)
    n = sympy.Symbol("n", integer=True, positive=True)
    assert [r.variable for r in rules] == [W[p, q], a[q], b[p]]
    assert rules[0].result == delta[p] * a[q]
    assert rules[1].result == sympy.Sum(W[i, q] * delta[i], (i, 1, n))
    assert rules[2].result == delta[p]
    assert rules[0].local.has(sympy.KroneckerDelta)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("2", "at least an input and an output"),
        ("2,x,1", "'x' at item 2"),
        ("2,0,1", "out of range"),
        ("2,,1", "'' at item 2"),
        ("2,-3,1", "'-3'"),
    ],
)
def test_bad_layer_specs(spec, message):
    with pytest.raises(ParseError, match=message):
        parse_layers(spec)


def test_output_activation_with_logit_loss_is_rejected():
    with pytest.raises(ValueError, match="drop the output activation"):
        network("2,2,1", loss="bce", output_activation="sigmoid")


# --- compiled code ---------------------------------------------------------------------------


def _batch(compiled, rng, m=7):
    sizes = compiled.network.sizes
    X = rng.standard_normal((m, sizes[0]))
    if compiled.network.loss.kind == "softmax":
        Y = one_hot(rng.integers(0, sizes[-1], m), sizes[-1])
    elif compiled.network.loss.on_logits:
        Y = rng.integers(0, 2, (m, sizes[-1])).astype(float)
    else:
        Y = rng.standard_normal((m, sizes[-1]))
    return X, Y


def _check(compiled, seed=0, **options):
    rng = numpy.random.default_rng(seed)
    X, Y = _batch(compiled, rng)
    theta = rng.standard_normal(compiled.network.parameter_count)
    return check_gradient(
        lambda t: compiled.loss(t, X, Y),
        lambda t: compiled.gradient(t, X, Y),
        theta,
        blocks=compiled.blocks,
        **options,
    )


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", [*sorted(ACTIVATIONS), "z/(1 + exp(-z))", "x**3/3 + x"])
def test_compiled_gradient_passes_finite_differences(act, loss):
    compiled = compile_network(network("3,4,3,2", activation=act, loss=loss, l2=0.05))
    report = _check(compiled)
    assert report.passed, report.table()
    assert report.method == "central"
    assert [c.name for c in report.checks] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_mse_with_output_activation_passes():
    compiled = compile_network(network("3,4,2", loss="mse", output_activation="sigmoid"))
    assert _check(compiled).passed


def test_wrong_sigma_prime_fails_the_gradient_check():
    net = dataclasses.replace(network("3,4,2", loss="softmax-cross-entropy"))
    wrong = dataclasses.replace(net, activation=_wrong_tanh())
    assert _check(compile_network(net)).passed
    report = _check(compile_network(wrong))
    assert not report.passed
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"W1", "b1"}  # only the layer below the hidden activation


def test_random_direction_check_for_a_large_network():
    net = network("64,32,10", loss="softmax-cross-entropy")
    good = _check(compile_network(net), full_check_limit=100)
    assert good.method == "random-direction" and good.passed
    wrong = _check(
        compile_network(dataclasses.replace(net, activation=_wrong_tanh())), full_check_limit=100
    )
    assert not wrong.passed


def test_softmax_does_not_overflow():
    compiled = compile_network(network("2,2", activation="identity", loss="softmax-cross-entropy"))
    theta = numpy.array([1000.0, 0.0, -1000.0, 0.0, 0.0, 0.0])
    X, Y = numpy.array([[1.0, 0.0]]), numpy.array([[0.0, 1.0]])
    loss, gradient = compiled.loss_and_gradient(theta, X, Y)
    assert loss == pytest.approx(2000.0) and numpy.all(numpy.isfinite(gradient))


def test_views_share_memory_with_theta():
    compiled = compile_network(network("2,3,1"))
    theta = compiled.initial_theta(seed=1)
    views = compiled.views(theta)
    assert views["W1"].shape == (3, 2) and views["b2"].shape == (1,)
    views["b1"][:] = 7.0
    assert numpy.all(theta[6:9] == 7.0)


def test_no_python_loops_in_generated_code():
    source = compile_network(network("64,32,16,10", loss="softmax-cross-entropy")).source
    import ast

    tree = ast.parse(source)
    assert not any(
        isinstance(node, (ast.For, ast.While, ast.comprehension)) for node in ast.walk(tree)
    )
    assert "delta2 = (delta3 @ W3) * (1 - a2**2)" in source


def test_exported_module_needs_only_numpy(tmp_path):
    compiled = compile_network(network("3,4,2", activation="sigmoid", loss="bce"))
    path = tmp_path / "net.py"
    module = compiled.export(path)
    assert "symgd" not in module.replace("Generated by symgd", "")
    rng = numpy.random.default_rng(3)
    X, Y = _batch(compiled, rng)
    theta = rng.standard_normal(compiled.network.parameter_count)
    numpy.save(tmp_path / "X.npy", X)
    numpy.save(tmp_path / "Y.npy", Y)
    numpy.save(tmp_path / "theta.npy", theta)
    script = (
        "import sys, numpy; sys.modules['symgd'] = None; sys.path.insert(0, '.');"
        "import net; X, Y, t = (numpy.load(n + '.npy') for n in ('X', 'Y', 'theta'));"
        "loss, grad = net.loss_and_gradient(t, X, Y); numpy.save('grad.npy', grad); print(loss)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    expected_loss, expected_grad = compiled.loss_and_gradient(theta, X, Y)
    assert float(result.stdout) == pytest.approx(expected_loss, rel=1e-12)
    numpy.testing.assert_allclose(numpy.load(tmp_path / "grad.npy"), expected_grad, rtol=1e-12)


def test_compiled_agrees_with_expanded_layer_rules():
    net = network("2,3,2", activation="tanh", loss="softmax-cross-entropy")
    derivation = derive_network(net, expanded=True)
    compiled = compile_network(net)
    scalar = derivation.scalar
    rng = numpy.random.default_rng(5)
    theta = rng.standard_normal(net.parameter_count)
    x, label = rng.standard_normal(2), 1
    values = dict(zip(scalar.params, theta, strict=True))
    values |= dict(zip(scalar.inputs, x, strict=True)) | {
        scalar.targets[0]: 0,
        scalar.targets[1]: 1,
    }
    symbolic = [float(g.xreplace(values)) for g in layer_rule_gradient(derivation).values()]
    numeric = compiled.gradient(theta, x[None, :], one_hot(numpy.array([label]), 2))
    numpy.testing.assert_allclose(numeric, symbolic, rtol=1e-10)


def test_derive_and_compile_time_does_not_grow_with_width():
    times = []
    for width in (64, 256, 1024):
        start = time.perf_counter()
        compile_network(network(f"784,{width},128,10", loss="softmax-cross-entropy"))
        times.append(time.perf_counter() - start)
    assert max(times) < 5.0  # the benchmark reports the figures; this only catches blow-ups


@pytest.mark.slow
def test_digits_reach_95_percent():
    X_train, X_test, y_train, y_test = digits_dataset()
    assert (len(X_train), len(X_test)) == (1437, 360)
    compiled = compile_network(network("64,32,10", activation="tanh", loss="softmax-cross-entropy"))
    result = train_network(
        compiled,
        X_train,
        compiled.targets(y_train),
        learning_rate=0.1,
        epochs=50,
        batch_size=64,
        seed=0,
        progress=False,
    )
    accuracy = float(numpy.mean(compiled.predict(result.theta, X_test) == y_test))
    assert accuracy >= 0.95, accuracy
    assert result.loss_history[-1] < 0.25 * result.loss_history[0]


# --- rendering --------------------------------------------------------------------------------


def test_rendered_chain_mentions_the_derived_pieces():
    derivation = derive_network(network("2,3,1", activation="sigmoid", loss="mse"))
    latex = network_latex(derivation)
    assert r"a \left(1 - a\right)" in latex  # σ' in terms of the output
    assert r"\odot" in latex and r"W^{(2)}" in latex
    text = network_text(derivation)
    assert "delta(2) = dl/dz(2) = a - y" in text
    assert "**Backward recursion**" in network_markdown(derivation)


def test_softmax_chain_shows_p_minus_y():
    latex = network_latex(derive_network(network("4,3,3", loss="softmax-cross-entropy")))
    assert "&= p - y" in latex


def test_expanded_document_compiles(pdflatex):
    derivation = derive_network(
        network("2,2,1", activation="tanh", loss="mse", l2=0.01), expanded=True
    )
    source = network_document(derivation)
    assert r"\frac{\partial \ell}{\partial w^{(1)}_{12}}" in source
    pdflatex(source, name="backprop")


def test_softmax_document_compiles(pdflatex):
    pdflatex(
        network_document(
            derive_network(network("2,3,2", loss="softmax-cross-entropy"), expanded=True)
        ),
        name="softmax",
    )
