"""The JAX backend (symgd.compile.jax_backend, symgd.training.jax_engine) against NumPy's."""

import builtins
import json

import numpy
import pytest
import sympy

from symgd.cli.app import main
from symgd.compile import (
    JaxPrinter,
    MissingBackend,
    compile_network,
    compile_objective,
)
from symgd.define import linear_regression, logistic_regression
from symgd.define.network import network
from symgd.derivation import derive
from symgd.functions import sigmoid, softplus
from symgd.training import make_optimizer, train_network
from symgd.verify import check_gradient

z = sympy.Symbol("z", real=True)


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        (sigmoid(z), "jax.nn.sigmoid(z)"),
        (softplus(z), "jax.nn.softplus(z)"),
        (sigmoid(z) * sigmoid(-z), "_sigmoid_derivative(z)"),
        (sympy.exp(z), "jnp.exp(z)"),
        (sympy.Max(0, z), "jnp.maximum(0, z)"),
        (sympy.Heaviside(z), "jnp.heaviside(z, 0.0)"),
        (sympy.Piecewise((z, z > 0)), "jnp.where(jnp.greater(z, 0), z, jnp.nan)"),
        (
            sympy.Piecewise((z, z > 0), (0, True)),
            "jnp.where(jnp.greater(z, 0), z, 0)",
        ),
    ],
)
def test_printer_maps_stable_forms_to_jax(expr, code):
    # The printer itself needs no JAX.
    assert JaxPrinter().doprint(expr) == code


def test_missing_jax_is_one_line_naming_the_extra(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_jax(name, *args, **kwargs):
        if name == "jax" or name.startswith("jax."):
            raise ImportError("No module named 'jax'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    with pytest.raises(MissingBackend, match=r"pip install 'symgd\[jax\]'"):
        compile_network(network("2,2,1"), backend="jax")
    with pytest.raises(MissingBackend, match=r"pip install 'symgd\[jax\]'"):
        compile_objective(derive(linear_regression()), backend="jax")
    code = main(["net", "train", "--layers", "64,4,10", "--dataset", "digits", "--lr", "0.1",
                 "--epochs", "1", "--backend", "jax"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "pip install 'symgd[jax]'" in err and len(err.strip().splitlines()) == 1


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        compile_network(network("2,2,1"), backend="torch")
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        compile_objective(derive(linear_regression()), backend="torch")


# ---- everything below needs JAX ----------------------------------------------------------


@pytest.fixture(scope="module")
def jax():
    return pytest.importorskip("jax")


@pytest.mark.parametrize(
    ("objective", "dtype", "tolerance"),
    [
        (linear_regression(), numpy.float64, 1e-10),
        (logistic_regression(), numpy.float64, 1e-10),
        (linear_regression(), numpy.float32, 1e-4),
        (logistic_regression(), numpy.float32, 1e-4),
    ],
)
def test_objective_equals_numpy(jax, objective, dtype, tolerance):
    derivation = derive(objective)
    reference = compile_objective(derivation)
    compiled = compile_objective(derivation, backend="jax", dtype=dtype)
    assert "jnp.sum" in compiled.source and "import jax.numpy as jnp" in compiled.export()
    rng = numpy.random.default_rng(0)
    data = {name: rng.normal(size=200) for name in reference.data}
    data["y"] = (data["y"] > 0).astype(float)
    for _ in range(5):
        params = dict(zip(reference.params, rng.normal(size=len(reference.params)), strict=True))
        assert compiled.loss(params, data) == pytest.approx(
            reference.loss(params, data), abs=tolerance
        )
        expected, got = reference.gradient(params, data), compiled.gradient(params, data)
        numpy.testing.assert_allclose(list(got.values()), list(expected.values()), atol=tolerance)


def test_scalar_training_through_the_runner_equals_numpy(jax):
    from symgd.data import linear_data
    from symgd.training import train

    derivation = derive(linear_regression())
    data = linear_data(m=103, noise=0.1, seed=0)
    options = dict(epochs=5, batch_size=10, seed=2, optimizer=make_optimizer("adam", 0.05))
    expected = train(compile_objective(derivation), data, {"w": 0.0, "b": 0.0}, **options)
    compiled = compile_objective(derivation, backend="jax")
    got = train(compiled, data, {"w": 0.0, "b": 0.0}, **options)
    numpy.testing.assert_allclose(got.loss_history, expected.loss_history, atol=1e-10)
    numpy.testing.assert_allclose(got.theta, expected.theta, atol=1e-10)


NETWORKS = [
    ("64,8,10", {"loss": "softmax-cross-entropy"}),
    ("3,5,1", {"activation": "relu", "loss": "bce"}),
    ("3,4,4,2", {"activation": "sigmoid", "loss": "mse", "l2": 0.01}),
    ("2,3,1", {"activation": "softplus", "loss": "mse"}),
]


@pytest.mark.parametrize(("layers", "options"), NETWORKS)
def test_network_equals_numpy_and_passes_finite_differences(jax, layers, options):
    net = network(layers, **options)
    reference, compiled = compile_network(net), compile_network(net, backend="jax")
    rng = numpy.random.default_rng(1)
    X = rng.normal(size=(40, net.sizes[0]))
    Y = reference.targets(
        rng.integers(0, net.sizes[-1], 40) if net.sizes[-1] > 1 else rng.integers(0, 2, 40)
    )
    for seed in range(3):
        theta = reference.initial_theta(seed) + rng.normal(scale=0.1, size=net.parameter_count)
        loss, gradient = reference.loss_and_gradient(theta, X, Y)
        jax_loss, jax_gradient = compiled.loss_and_gradient(theta, X, Y)
        assert float(jax_loss) == pytest.approx(loss, abs=1e-10)
        numpy.testing.assert_allclose(numpy.asarray(jax_gradient), gradient, atol=1e-10)
    report = check_gradient(
        lambda t: float(compiled.loss(t, X, Y)),
        lambda t: numpy.asarray(compiled.gradient(t, X, Y)),
        theta,
        blocks=compiled.blocks,
    )
    assert report.passed
    wrong = check_gradient(
        lambda t: float(compiled.loss(t, X, Y)),
        lambda t: 1.1 * numpy.asarray(compiled.gradient(t, X, Y)),
        theta,
        blocks=compiled.blocks,
    )
    assert not wrong.passed


def test_exported_network_module_runs_alone(jax, tmp_path):
    compiled = compile_network(network("3,4,2", activation="tanh"), backend="jax")
    path = tmp_path / "net.py"
    compiled.export(path)
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
    theta, X = compiled.initial_theta(0), numpy.ones((5, 3))
    numpy.testing.assert_allclose(namespace["forward"](theta, X), compiled.forward(theta, X))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data[:600] / 16.0, data.target[:600]


OPTIMIZERS = [
    lambda steps: None,
    lambda steps: make_optimizer("momentum", 0.05),
    lambda steps: make_optimizer("adam", 0.01, schedule="cosine", total_steps=steps, clip_norm=1.0),
    lambda steps: make_optimizer("rmsprop", 0.01, clip_value=0.5),
    lambda steps: make_optimizer("adagrad", 0.1),
    lambda steps: make_optimizer("adamw", 0.01),
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_equals_numpy(jax, digits, optimizer):
    X, y = digits
    net = network("64,16,10", loss="softmax-cross-entropy")
    reference = compile_network(net)
    Y = reference.targets(y)
    options = dict(learning_rate=0.1, epochs=3, batch_size=50, seed=3, validation_split=0.2)
    steps = 3 * -(-480 // 50)  # a last, shorter batch every epoch
    expected = train_network(reference, X, Y, optimizer=optimizer(steps), **options)
    for dtype, tolerance in ((numpy.float64, 1e-10), (numpy.float32, 1e-4)):
        compiled = compile_network(net, backend="jax", dtype=dtype)
        got = train_network(compiled, X, Y, optimizer=optimizer(steps), **options)
        numpy.testing.assert_allclose(got.loss_history, expected.loss_history, atol=tolerance)
        numpy.testing.assert_allclose(
            got.validation_history, expected.validation_history, atol=tolerance
        )
        numpy.testing.assert_allclose(got.theta, expected.theta, atol=tolerance)
        assert (got.epochs, got.steps, got.message[:17]) == (3, steps, expected.message[:17])
        numpy.testing.assert_allclose(
            got.gradient_norm_history, expected.gradient_norm_history, rtol=tolerance * 10
        )
        assert got.learning_rate_history == pytest.approx(expected.learning_rate_history, rel=1e-6)


@pytest.mark.parametrize(
    "options",
    [
        {"validation_split": 0.5, "early_stopping": 1, "learning_rate": 2.0},
        {"tolerance": 0.05, "learning_rate": 0.5},
    ],
)
def test_early_stopping_and_tolerance_end_runs_as_numpy_does(jax, digits, options):
    X, y = digits
    net = network("64,8,10", loss="softmax-cross-entropy")
    reference = compile_network(net)
    Y = reference.targets(y)
    settings = dict(epochs=30, batch_size=100, seed=4, **options)
    expected = train_network(reference, X, Y, **settings)
    got = train_network(compile_network(net, backend="jax"), X, Y, **settings)
    assert expected.epochs < 30 and expected.stopped_early == ("early_stopping" in options)
    assert (got.epochs, got.stopped_early, got.converged, got.message) == (
        expected.epochs,
        expected.stopped_early,
        expected.converged,
        expected.message,
    )
    numpy.testing.assert_allclose(got.theta, expected.theta, atol=1e-10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 5}, "give epochs, not steps"),
        ({"epochs": 1, "checkpoint_dir": "somewhere"}, "does not write checkpoints"),
    ],
)
def test_engine_refuses_what_it_does_not_do(jax, options, message):
    compiled = compile_network(network("2,2,1"), backend="jax")
    X, Y = numpy.ones((4, 2)), numpy.ones((4, 1))
    with pytest.raises(ValueError, match=message):
        train_network(compiled, X, Y, learning_rate=0.1, **options)


def test_diverging_run_reports_like_numpy(jax, digits):
    X, y = digits
    net = network("64,8,10", loss="softmax-cross-entropy")
    reference = compile_network(net)
    Y = reference.targets(y)
    options = dict(learning_rate=1e4, epochs=5, batch_size=100, seed=0)
    expected = train_network(reference, X, Y, **options)
    got = train_network(compile_network(net, backend="jax"), X, Y, **options)
    assert expected.diverged and got.diverged
    assert (got.epochs, got.steps) == (expected.epochs, expected.steps)


def test_cli_net_train_with_jax_equals_numpy(jax, capsys):
    def run(backend):
        args = ["net", "train", "--layers", "64,8,10", "--loss", "softmax-cross-entropy",
                "--dataset", "digits", "--lr", "0.1", "--epochs", "2", "--batch-size", "128",
                "--format", "json", "--backend", backend]  # fmt: skip
        assert main(args) == 0
        return json.loads(capsys.readouterr().out)

    numpy_run, jax_run = run("numpy"), run("jax")
    numpy.testing.assert_allclose(jax_run["loss"], numpy_run["loss"], atol=1e-10)
    assert jax_run["test_accuracy"] == pytest.approx(numpy_run["test_accuracy"])
