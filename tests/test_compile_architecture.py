"""Compiled layer stacks (symgd.compile.architecture, symgd.compile.conv_code).

Oracles: a forward pass written with explicit loops over examples, channels and pixels, and
central finite differences of the compiled loss. A wrong backward rule (the un-flipped kernel,
δ to every tied maximum) must fail the finite-difference check.
"""

from __future__ import annotations

import numpy
import pytest

from symgd.compile import compile_architecture
from symgd.compile.architecture import CompiledArchitecture, architecture_source
from symgd.compile.conv_code import backward_lines, forward_lines
from symgd.compile.loader import load_source
from symgd.data import digits_dataset
from symgd.define.architecture import architecture
from symgd.training import make_optimizer, train_network
from symgd.verify import check_gradient

ACTIVATIONS = {
    "relu": lambda z: numpy.maximum(z, 0),
    "tanh": numpy.tanh,
    "sigmoid": lambda z: 1 / (1 + numpy.exp(-z)),
}


def reference_forward(arch, theta, X):
    """The network's output (probabilities for softmax and bce), computed with loops."""
    params = {name: theta[part].reshape(shape) for name, part, shape in arch.blocks}
    a = X
    for layer in arch.layers:
        m = a.shape[0]
        out = numpy.zeros((m, *layer.output_shape))
        if layer.kind == "conv":
            K, b, q = params[f"K{layer.index}"], params[f"b{layer.index}"], layer.kernel
            pad = (q - 1) // 2 if layer.padding == "same" else 0
            c, h, w = layer.input_shape
            C, H, W = layer.output_shape
            for n in range(m):
                for o in range(C):
                    for i in range(H):
                        for j in range(W):
                            total = b[o]
                            for ch in range(c):
                                for p in range(q):
                                    for r in range(q):
                                        y, x = i + p - pad, j + r - pad
                                        if 0 <= y < h and 0 <= x < w:
                                            total += K[o, ch, p, r] * a[n, ch, y, x]
                            out[n, o, i, j] = total
        elif layer.kind in ("maxpool", "avgpool"):
            s = layer.size
            reduce = numpy.max if layer.kind == "maxpool" else numpy.mean
            for n in range(m):
                for ch in range(layer.output_shape[0]):
                    for i in range(layer.output_shape[1]):
                        for j in range(layer.output_shape[2]):
                            window = a[n, ch, i * s : i * s + s, j * s : j * s + s]
                            out[n, ch, i, j] = reduce(window)
        elif layer.kind == "flatten":
            for n in range(m):
                out[n] = a[n].ravel()
        elif layer.kind == "dense":
            W, b = params[f"W{layer.index}"], params[f"b{layer.index}"]
            for n in range(m):
                for u in range(layer.size):
                    out[n, u] = b[u] + sum(W[u, d] * a[n, d] for d in range(a.shape[1]))
        else:
            out = ACTIVATIONS[layer.activation.name](a)
        a = out
    if arch.loss.kind == "softmax":
        e = numpy.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if arch.loss.on_logits:
        return ACTIVATIONS["sigmoid"](a)
    return a


CASES = [
    # (architecture, input shape, loss)
    ("conv(3,3),relu,maxpool(2),flatten,dense(4)", (2, 6, 6), "softmax-cross-entropy"),
    ("conv(2,3,same),tanh,avgpool(2),flatten,dense(3)", (2, 5, 5), "softmax-cross-entropy"),
    ("conv(2,2),sigmoid,maxpool(2),flatten,dense(1)", (1, 8, 7), "bce"),
    ("conv(2,3),tanh,conv(3,3,same),maxpool(3),flatten,dense(2),tanh", (2, 9, 9), "mse"),
    ("conv(2,1),relu,avgpool(3),flatten,dense(3),sigmoid,dense(2)", (1, 7, 8), "mse"),
    ("flatten,dense(5),relu,dense(3)", (2, 3, 3), "softmax-cross-entropy"),
]


def _data(arch, m=4, seed=1):
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((m, *arch.input_shape))
    n = arch.output_shape[0]
    if arch.loss.kind == "softmax":
        Y = numpy.eye(n)[rng.integers(0, n, m)]
    elif arch.loss.on_logits:
        Y = rng.integers(0, 2, (m, n)).astype(float)
    else:
        Y = rng.standard_normal((m, n))
    return X, Y


def _check(compiled, X, Y, theta):
    return check_gradient(
        lambda t: compiled.loss(t, X, Y),
        lambda t: compiled.gradient(t, X, Y),
        theta,
        blocks=compiled.blocks,
        rtol=1e-6,
        atol=1e-8,
    )


@pytest.mark.parametrize(("spec", "shape", "loss"), CASES)
def test_forward_matches_loops_and_gradient_matches_differences(spec, shape, loss):
    arch = architecture(spec, shape, loss=loss, l2=0.01)
    compiled = compile_architecture(arch)
    theta = compiled.initial_theta(seed=3) + 0.05  # non-zero biases
    X, Y = _data(arch)
    numpy.testing.assert_allclose(
        compiled.forward(theta, X), reference_forward(arch, theta, X), rtol=1e-10, atol=1e-12
    )
    report = _check(compiled, X, Y, theta)
    assert report.passed, report


@pytest.mark.parametrize("spec", ["conv(2,3),flatten,dense(2)", "conv(2,3,same),flatten,dense(2)"])
def test_im2col_strategy_gives_the_same_numbers(spec):
    arch = architecture(spec, (2, 5, 6), loss="mse")
    einsum = compile_architecture(arch, strategy="einsum")
    im2col = compile_architecture(arch, strategy="im2col")
    theta = einsum.initial_theta(seed=0)
    X, Y = _data(arch)
    first, second = einsum.loss_and_gradient(theta, X, Y), im2col.loss_and_gradient(theta, X, Y)
    numpy.testing.assert_allclose(first[0], second[0], rtol=1e-12)
    numpy.testing.assert_allclose(first[1], second[1], rtol=1e-10, atol=1e-14)
    assert "columns1" in im2col.source and "columns1" not in einsum.source


def _wrong(compiled: CompiledArchitecture, old: str, new: str) -> CompiledArchitecture:
    assert old in compiled.source
    source = compiled.source.replace(old, new)
    return CompiledArchitecture(compiled.architecture, source, compiled.blocks, load_source(source))


def test_unflipped_kernel_fails_the_check():
    arch = architecture("conv(2,2),tanh,conv(2,3),flatten,dense(2)", (2, 6, 6), loss="mse")
    compiled = compile_architecture(arch, strategy="einsum")
    theta, (X, Y) = compiled.initial_theta(seed=0), _data(arch)
    assert _check(compiled, X, Y, theta).passed
    wrong = _wrong(compiled, "K2[:, :, ::-1, ::-1]", "K2")
    assert not _check(wrong, X, Y, theta).passed


def test_tied_maxima_route_to_the_first_only():
    # Constant images: every window of the convolution's output is a tie for any kernel.
    arch = architecture("conv(2,3),maxpool(2),flatten,dense(2)", (1, 6, 6), loss="mse")
    compiled = compile_architecture(arch)
    theta = compiled.initial_theta(seed=0)
    X = numpy.ones((3, 1, 6, 6)) * numpy.array([1.0, -2.0, 0.5])[:, None, None, None]
    Y = numpy.ones((3, 2))
    assert _check(compiled, X, Y, theta).passed
    first_only = "numpy.put_along_axis(routed2, first2[..., None], g2[..., None], axis=4)"
    to_all = "routed2[...] = (windows2 == a2[..., None]) * g2[..., None]"
    wrong = _wrong(compiled, first_only, to_all)
    assert not _check(wrong, X, Y, theta).passed


def test_maxpool_tie_rule_and_odd_sizes_in_the_generated_lines():
    arch = architecture("conv(1,1),maxpool(2),flatten,dense(1)", (1, 3, 5), loss="mse")
    pool = arch.layers[1]
    a1 = numpy.array([[[[1.0, 1.0, 3.0, 2.0, 9.0], [0.0, 1.0, 3.0, 3.0, 9.0], [9, 9, 9, 9, 9]]]])
    g2 = numpy.array([[[[10.0, 20.0]]]])
    namespace = {"a1": a1, "g2": g2}
    source = "\n".join(forward_lines(pool, 2, True) + backward_lines(pool, 2, True))
    namespace = load_source(source, namespace)
    numpy.testing.assert_array_equal(namespace["a2"], [[[[1.0, 3.0]]]])
    expected = numpy.zeros((1, 1, 3, 5))
    expected[0, 0, 0, 0], expected[0, 0, 0, 2] = 10.0, 20.0  # first maxima, row-major
    numpy.testing.assert_array_equal(namespace["g1"], expected)


def test_objective_validates_shapes_and_api():
    arch = architecture("conv(2,3),relu,maxpool(2),flatten,dense(3)", (1, 6, 6))
    compiled = compile_architecture(arch)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 1, 6, 6\)"):
        compiled.objective(numpy.zeros((2, 36)), numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Y must have shape \(2, 3\)"):
        compiled.objective(numpy.zeros((2, 1, 6, 6)), numpy.zeros((2, 4)))
    with pytest.raises(ValueError, match="unknown convolution strategy"):
        compile_architecture(arch, strategy="fft")
    X, labels = numpy.random.default_rng(0).random((5, 1, 6, 6)), numpy.array([0, 1, 2, 0, 1])
    Y, theta = compiled.targets(labels), compiled.initial_theta(seed=1)
    loss, gradient = compiled.objective(X, Y)(theta, slice(0, 5))
    numpy.testing.assert_allclose(gradient, compiled.gradient(theta, X, Y))
    assert compiled.predict(theta, X).shape == (5,)
    assert repr(compiled) == f"CompiledArchitecture({arch!r}, {arch.parameter_count} parameters)"
    assert compiled.running == {}
    assert architecture_source(arch) == compiled.source


def test_export_runs_standalone(tmp_path):
    arch = architecture("conv(2,3,same),sigmoid,avgpool(2),flatten,dense(1)", (1, 4, 4), loss="bce")
    compiled = compile_architecture(arch)
    path = tmp_path / "cnn.py"
    module = compiled.export(path)
    assert path.read_text(encoding="utf-8") == module
    namespace: dict = {}
    exec(compile(module, str(path), "exec"), namespace)  # noqa: S102 - our own generated code
    theta, (X, Y) = compiled.initial_theta(seed=0), _data(arch)
    numpy.testing.assert_allclose(
        namespace["loss_and_gradient"](theta, X, Y)[1], compiled.gradient(theta, X, Y)
    )


def test_initialisation_scales():
    arch = architecture("conv(8,3),relu,maxpool(2),flatten,dense(10)", (1, 8, 8))
    compiled = compile_architecture(arch)
    views = compiled.views(compiled.initial_theta(seed=0))
    assert numpy.abs(views["K1"]).max() <= numpy.sqrt(6 / 9)  # He: fan-in 1·3·3
    assert numpy.abs(views["K1"]).max() > numpy.sqrt(6 / (9 + 72))
    assert numpy.abs(views["W2"]).max() <= numpy.sqrt(6 / (72 + 10))  # Glorot: no relu after
    assert not views["b1"].any() and not views["b2"].any()


@pytest.mark.slow
def test_small_cnn_learns_digits():
    X_train, X_test, y_train, y_test = digits_dataset()
    X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    arch = architecture("conv(8,3),relu,maxpool(2),flatten,dense(10)", (1, 8, 8))
    compiled = compile_architecture(arch)
    result = train_network(
        compiled,
        X_train,
        compiled.targets(y_train),
        learning_rate=0.01,
        epochs=10,
        batch_size=64,
        optimizer=make_optimizer("adam", 0.01),
    )
    accuracy = (compiled.predict(result.theta, X_test) == y_test).mean()
    assert accuracy > 0.95, accuracy
