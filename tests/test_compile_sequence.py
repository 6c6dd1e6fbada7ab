"""``symgd.compile.sequence_code`` and ``norm_code``: the generated lines of ``rnn(n)`` and
``batchnorm``, checked by central finite differences (a wrong rule must fail them), the
running averages against a hand-computed momentum update, and ``symgd.data.sine_dataset``.

The lines are run first in a small harness (one layer, ``J = ½‖a_k − R‖²``), then, where the
framework ``symgd.compile.architecture`` exists, inside whole compiled networks.
"""

from __future__ import annotations

import importlib.util

import numpy
import pytest

from symgd.compile import norm_code, sequence_code
from symgd.data import persistence_baseline, sine_dataset
from symgd.define.architecture import Layer, architecture
from symgd.verify.gradcheck import central_difference

CODE = {"rnn": sequence_code, "batchnorm": norm_code}


def _indent(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _harness(layer: Layer, k: int, *, training: bool = True, mutate=None):
    """``run(theta, x, R, running) -> (J, dJ/dtheta, dJ/dx, a_k)`` from the layer's lines."""
    code = CODE[layer.kind]
    names = [name for name, _ in layer.parameters]
    unpack, grads, start = [], [], 0
    for name, shape in layer.parameters:
        size = int(numpy.prod(shape))
        unpack.append(f"{name} = theta[{start}:{start + size}].reshape({shape})")
        grads.append(f"d{name} = grad[{start}:{start + size}].reshape({shape})")
        start += size
    backward = code.backward_lines(layer, k, needs_input_gradient=True)
    if mutate is not None:
        backward = mutate(backward)
    source = "\n".join(
        [
            "def run(theta, x, R, running):",
            _indent(unpack),
            f"    a{k - 1} = x",
            _indent(code.forward_lines(layer, k, training)),
            f"    J = 0.5 * ((a{k} - R) ** 2).sum()",
            "    grad = numpy.full_like(theta, numpy.nan)  # the lines must fill every entry",
            _indent(grads),
            f"    g{k} = a{k} - R",
            _indent(backward),
            f"    return J, grad, g{k - 1}, a{k}",
        ]
    )
    namespace = {"numpy": numpy}
    exec(compile(source, f"<{layer.text}>", "exec"), namespace)  # noqa: S102 - our own lines
    assert len(names) == len(layer.parameters)
    return namespace["run"], start


def _check_layer(layer: Layer, k: int, x: numpy.ndarray, *, mutate=None, seed: int = 0) -> None:
    run, size = _harness(layer, k, mutate=mutate)
    rng = numpy.random.default_rng(seed)
    theta = rng.normal(0.0, 0.7, size)
    R = rng.normal(size=(x.shape[0], *layer.output_shape))
    J, grad, gx, _ = run(theta, x, R, None)
    numpy.testing.assert_allclose(
        grad, central_difference(lambda t: run(t, x, R, None)[0], theta), rtol=1e-5, atol=1e-7
    )
    numpy.testing.assert_allclose(
        gx, central_difference(lambda v: run(theta, v, R, None)[0], x), rtol=1e-5, atol=1e-7
    )


RNN_LAYER = architecture("tanh,rnn(4),dense(1)", (5, 2), loss="mse").layers[1]
FEATURE_NORM = architecture("dense(3),batchnorm,dense(2)", (4,)).layers[1]
IMAGE_NORM = architecture("batchnorm,flatten,dense(2)", (2, 3, 3)).layers[0]


def test_rnn_lines_match_finite_differences():
    x = numpy.random.default_rng(1).normal(size=(3, 5, 2))
    _check_layer(RNN_LAYER, 2, x)


@pytest.mark.parametrize(
    ("layer", "k", "shape"), [(FEATURE_NORM, 2, (6, 3)), (IMAGE_NORM, 1, (3, 2, 3, 3))]
)
def test_batchnorm_lines_match_finite_differences(layer, k, shape):
    x = numpy.random.default_rng(2).normal(1.0, 2.0, size=shape)
    _check_layer(layer, k, x)


def _drop(old: str, new: str = ""):
    def mutate(lines: list[str]) -> list[str]:
        changed = [line.replace(old, new) for line in lines]
        if changed == lines:  # not an AssertionError: that would pass the test below
            raise LookupError(f"{old!r} is not in the generated lines")
        return changed

    return mutate


@pytest.mark.parametrize(
    ("layer", "k", "shape", "mutate"),
    [
        (RNN_LAYER, 2, (3, 5, 2), _drop(" * (1.0 - h2[:, t] ** 2)")),  # no tanh' in BPTT
        (RNN_LAYER, 2, (3, 5, 2), _drop("[:, :-1]", "[:, 1:]")),  # dW with h_t, not h_{t-1}
        (FEATURE_NORM, 2, (6, 3), _drop(" - xhat2 * dgamma2")),  # compact form, a term lost
        (IMAGE_NORM, 1, (3, 2, 3, 3), _drop(" - dbeta1[:, None, None]")),
    ],
)
def test_a_wrong_backward_rule_fails_the_check(layer, k, shape, mutate):
    x = numpy.random.default_rng(3).normal(size=shape)
    with pytest.raises(AssertionError):
        _check_layer(layer, k, x, mutate=mutate)


def test_rnn_forward_is_the_recurrence():
    run, size = _harness(RNN_LAYER, 2)
    rng = numpy.random.default_rng(4)
    theta, x = rng.normal(size=size), rng.normal(size=(2, 5, 2))
    U, W, b = theta[:8].reshape(4, 2), theta[8:24].reshape(4, 4), theta[24:]
    h = numpy.zeros((2, 4))
    for t in range(5):
        h = numpy.tanh(x[:, t] @ U.T + h @ W.T + b)
    numpy.testing.assert_allclose(run(theta, x, numpy.zeros((2, 4)), None)[3], h)


@pytest.mark.parametrize(("layer", "shape"), [(FEATURE_NORM, (6, 3)), (IMAGE_NORM, (3, 2, 3, 3))])
def test_running_averages_after_two_steps(layer, shape):
    k = 2 if layer is FEATURE_NORM else 1
    run, size = _harness(layer, k)
    rng = numpy.random.default_rng(5)
    theta = rng.normal(size=size)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    running: dict[str, numpy.ndarray] = {}
    mean, var = numpy.zeros(shape[1]), numpy.ones(shape[1])
    for _ in range(2):
        x = rng.normal(3.0, 2.0, size=shape)
        run(theta, x, numpy.zeros(shape), running)
        count = x.size // shape[1]
        mean = 0.9 * mean + 0.1 * x.mean(axis=axes)
        var = 0.9 * var + 0.1 * x.var(axis=axes) * count / (count - 1)
    numpy.testing.assert_allclose(running[f"mean{k}"], mean)
    numpy.testing.assert_allclose(running[f"var{k}"], var)
    # inference with the running statistics: the formula, and not the training output
    infer, _ = _harness(layer, k, training=False)
    x = rng.normal(3.0, 2.0, size=shape)
    gamma, beta = theta[: shape[1]], theta[shape[1] :]
    view = (slice(None),) + (None,) * (len(shape) - 2)
    expected = (x - mean[view]) / numpy.sqrt(var[view] + 1e-5) * gamma[view] + beta[view]
    inferred = infer(theta, x, numpy.zeros(shape), running)[3]
    numpy.testing.assert_allclose(inferred, expected)
    assert not numpy.allclose(inferred, run(theta, x, numpy.zeros(shape), None)[3])
    # inference without running statistics normalises with the batch's
    numpy.testing.assert_allclose(
        infer(theta, x, numpy.zeros(shape), None)[3], run(theta, x, numpy.zeros(shape), None)[3]
    )


def test_the_layer_modules_refuse_other_kinds():
    dense = FEATURE_NORM
    with pytest.raises(ValueError, match="rnn"):
        sequence_code.forward_lines(dense, 2, training=True)
    with pytest.raises(ValueError, match="batchnorm"):
        norm_code.backward_lines(RNN_LAYER, 2, needs_input_gradient=True)


def test_sine_dataset_is_seeded_and_the_baseline_is_the_last_value():
    X_train, X_test, y_train, y_test = sine_dataset(200, steps=12, seed=3)
    assert X_train.shape == (160, 12, 1) and y_test.shape == (40,)
    again = sine_dataset(200, steps=12, seed=3)
    numpy.testing.assert_array_equal(again[0], X_train)
    assert not numpy.array_equal(sine_dataset(200, steps=12, seed=4)[0], X_train)
    assert persistence_baseline(X_test, y_test) == pytest.approx(
        numpy.mean((X_test[:, -1, 0] - y_test) ** 2)
    )
    assert 0.02 < persistence_baseline(X_train, y_train) < 0.2
    with pytest.raises(ValueError, match="steps >= 1"):
        sine_dataset(100, steps=0)


# Whole networks, once the framework that assembles the module exists.
HAVE_FRAMEWORK = importlib.util.find_spec("symgd.compile.architecture") is not None
needs_framework = pytest.mark.skipif(
    not HAVE_FRAMEWORK, reason="symgd.compile.architecture (the module assembler) is not there"
)


def _module_check(spec: str, shape: tuple[int, ...], loss: str, Y: numpy.ndarray, seed: int = 0):
    from symgd.compile.architecture import compile_architecture

    compiled = compile_architecture(architecture(spec, shape, loss=loss))
    rng = numpy.random.default_rng(seed)
    X = rng.normal(size=(Y.shape[0], *shape))
    theta = rng.normal(0.0, 0.5, compiled.architecture.parameter_count)
    _, grad = compiled.loss_and_gradient(theta, X, Y)
    numeric = central_difference(lambda t: compiled.loss(t, X, Y), theta)
    numpy.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@needs_framework
@pytest.mark.parametrize(
    ("spec", "shape", "loss", "outputs"),
    [
        ("rnn(4),dense(1)", (5, 1), "mse", 1),
        ("dense(8),batchnorm,sigmoid,dense(3)", (4,), "softmax-cross-entropy", 3),
        ("conv(2,3),batchnorm,relu,flatten,dense(3)", (1, 5, 5), "softmax-cross-entropy", 3),
    ],
)
def test_whole_networks_match_finite_differences(spec, shape, loss, outputs):
    rng = numpy.random.default_rng(6)
    if loss == "mse":
        Y = rng.normal(size=(6, outputs))
    else:
        Y = numpy.eye(outputs)[rng.integers(0, outputs, 6)]
    _module_check(spec, shape, loss, Y)


@needs_framework
@pytest.mark.parametrize(
    ("code", "spec", "shape", "loss", "old", "new"),
    [
        (sequence_code, "rnn(4),dense(1)", (5, 1), "mse", " * (1.0 - h1[:, t] ** 2)", ""),
        (
            norm_code,
            "dense(8),batchnorm,sigmoid,dense(3)",
            (4,),
            "softmax-cross-entropy",
            " - xhat2 * dgamma2",
            "",
        ),
    ],
)
def test_a_wrong_rule_fails_the_whole_network_check(monkeypatch, code, spec, shape, loss, old, new):
    right = code.backward_lines
    monkeypatch.setattr(code, "backward_lines", lambda *a: _drop(old, new)(right(*a)))
    outputs = architecture(spec, shape, loss=loss).output_shape[0]
    Y = numpy.eye(outputs)[numpy.arange(6) % outputs]
    with pytest.raises(AssertionError):
        _module_check(spec, shape, loss, Y)
