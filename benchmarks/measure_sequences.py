"""Recurrent networks and batch normalisation, measured: the figures of issue #16.

Prints:

* (a) ``rnn(16),dense(1)`` on the ``sine`` set (Adam, learning rate 0.01, gradients clipped
  to norm 1, 50 epochs, mini-batch 32): test MSE against the persistence baseline (predict
  the last value); target: at least 5x better;
* (b) a deep sigmoid network on digits, ``DEPTH`` hidden ``dense(32),sigmoid`` layers and
  ``dense(10)``, with and without ``batchnorm`` after each hidden dense layer, plain SGD:
  training loss and accuracy after a few epochs (without batch norm it stalls near
  ``log 10``);
* (c) :math:`\\lVert \\partial h_T / \\partial h_t \\rVert_2 = \\lVert \\prod_k
  \\operatorname{diag}(1 - h_k^2) W \\rVert_2` against ``T − t`` for a tanh RNN whose
  recurrent weights are ``s`` times an orthogonal matrix, small and large ``s``.

Run: ``python benchmarks/measure_sequences.py`` (a minute or two on 2 cores); ``--quick``
runs fewer epochs.
"""

from __future__ import annotations

import sys
import time

import numpy

from symgd.compile.architecture import compile_architecture
from symgd.data import digits_dataset, persistence_baseline, sine_dataset
from symgd.define.architecture import architecture
from symgd.training.optimizers import make_optimizer
from symgd.training.runner import train_network

DEPTH = 6


def rnn_on_sine(epochs: int = 50) -> dict[str, float]:
    """(a): the test MSE of ``rnn(16),dense(1)`` on ``sine`` and the persistence baseline."""
    X_train, X_test, y_train, y_test = sine_dataset()
    compiled = compile_architecture(architecture("rnn(16),dense(1)", (20, 1), loss="mse"))
    start = time.perf_counter()
    result = train_network(
        compiled,
        X_train,
        compiled.targets(y_train),
        learning_rate=0.01,
        epochs=epochs,
        batch_size=32,
        seed=0,
        optimizer=lambda total_steps: make_optimizer("adam", 0.01, clip_norm=1.0),
    )
    seconds = time.perf_counter() - start
    predicted = compiled.forward(result.theta, X_test)[:, 0]
    test_mse = float(numpy.mean((predicted - y_test) ** 2))
    baseline = persistence_baseline(X_test, y_test)
    return {"test_mse": test_mse, "baseline_mse": baseline, "seconds": seconds}


def deep_sigmoid(batchnorm: bool, epochs: int = 10, learning_rate: float = 0.1) -> dict:
    """(b): training loss and accuracy of the deep sigmoid network after ``epochs`` of SGD."""
    X_train, X_test, y_train, y_test = digits_dataset()
    hidden = "dense(32),batchnorm,sigmoid" if batchnorm else "dense(32),sigmoid"
    spec = ",".join([hidden] * DEPTH + ["dense(10)"])
    compiled = compile_architecture(architecture(spec, (64,)))
    result = train_network(
        compiled,
        X_train,
        compiled.targets(y_train),
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=32,
        seed=0,
    )
    train_loss = compiled.loss(result.theta, X_train, compiled.targets(y_train))
    return {
        "spec": spec,
        "losses": result.loss_history,
        "train_loss": float(train_loss),
        "train_accuracy": float(numpy.mean(compiled.predict(result.theta, X_train) == y_train)),
        "test_accuracy": float(numpy.mean(compiled.predict(result.theta, X_test) == y_test)),
    }


def jacobian_norms(scale: float, *, n: int = 16, T: int = 60, seed: int = 0) -> numpy.ndarray:
    """(c): ``‖∂h_T/∂h_t‖₂`` for ``T − t = 1 … T``, recurrent weights ``scale`` × orthogonal."""
    rng = numpy.random.default_rng(seed)
    Q, _ = numpy.linalg.qr(rng.normal(size=(n, n)))
    W, U = scale * Q, 0.1 * rng.normal(size=(n, 1))
    x = rng.normal(size=(T, 1))
    h = numpy.zeros((T + 1, n))
    for t in range(1, T + 1):
        h[t] = numpy.tanh(U @ x[t - 1] + W @ h[t - 1])
    jacobian, norms = numpy.eye(n), []
    for t in range(T, 0, -1):  # ∂h_T/∂h_{t-1} = ∂h_T/∂h_t · diag(1 − h_t²) W
        jacobian = jacobian @ ((1 - h[t] ** 2)[:, None] * W)
        norms.append(numpy.linalg.norm(jacobian, 2))
    return numpy.array(norms)


def main(quick: bool = False) -> None:
    numpy.set_printoptions(precision=3)
    rnn = rnn_on_sine(epochs=10 if quick else 50)
    ratio = rnn["baseline_mse"] / rnn["test_mse"]
    print(
        f"(a) rnn(16),dense(1) on sine, adam 0.01, clip-norm 1: test MSE {rnn['test_mse']:.5f}, "
        f"persistence baseline {rnn['baseline_mse']:.5f}: {ratio:.1f}x better "
        f"(target >= 5x; {rnn['seconds']:.0f} s)"
    )
    epochs = 3 if quick else 10
    print(
        f"(b) {DEPTH} hidden dense(32) sigmoid layers on digits, SGD 0.1, batch 32, {epochs} epochs"
    )
    for batchnorm in (False, True):
        run = deep_sigmoid(batchnorm, epochs=epochs)
        losses = " ".join(f"{loss:.3f}" for loss in run["losses"])
        print(
            f"    {'with' if batchnorm else 'without'} batchnorm: "
            f"training loss {run['train_loss']:.4f}, "
            f"train accuracy {run['train_accuracy']:.3f}, test accuracy {run['test_accuracy']:.3f}"
            f"; loss per epoch {losses}"
        )
    print("(c) ||dh_T/dh_t|| against T - t (tanh RNN, n = 16, W = s * orthogonal)")
    distances = (1, 5, 10, 20, 40, 60)
    print("    T - t: " + "  ".join(f"{d:>8d}" for d in distances))
    for scale in (0.5, 0.9, 1.5, 3.0):
        norms = jacobian_norms(scale)
        print(f"    s = {scale}: " + "  ".join(f"{norms[d - 1]:8.2e}" for d in distances))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
