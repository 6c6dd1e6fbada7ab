"""Compiled networks against hand-written NumPy backprop, side by side in one run.

Prints:

* the median time of one training epoch (mini-batch 64, SGD) of the 64-32-10 tanh
  softmax-cross-entropy network on scikit-learn's digits: symgd's compiled code, a
  hand-written NumPy backprop of the same MLP, and PyTorch CPU / autograd when they are
  installed (skipped otherwise); the ratio to hand-written NumPy (target <= 1.2x);
* the time to derive and compile a 784-W-128-10 network for several widths W
  (target < 1 s, and no growth with width).

Both epoch loops are identical (same shuffling, same gathers, same update) and run with one
BLAS thread: mini-batch matrices are small, and BLAS threads only contend on a busy machine.

Run: ``python benchmarks/bench_network.py`` (about half a minute on 2 cores).
"""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy
from _timing import interleaved

from symgd.compile import compile_network
from symgd.data import digits_dataset
from symgd.define import network
from symgd.derivation import dense_rules, derive_network

BATCH = 64
LEARNING_RATE = 0.1


def hand_written(X: numpy.ndarray, Y: numpy.ndarray, params: dict):
    """Textbook NumPy backprop of a tanh MLP with softmax cross-entropy (rows are examples)."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a1 = numpy.tanh(X @ W1.T + b1)
    z2 = a1 @ W2.T + b2
    z2 = z2 - z2.max(axis=1, keepdims=True)
    log_p = z2 - numpy.log(numpy.exp(z2).sum(axis=1, keepdims=True))
    loss = -numpy.sum(Y * log_p) / m
    d2 = (numpy.exp(log_p) - Y) / m
    d1 = (d2 @ W2) * (1 - a1 * a1)
    return loss, {"W1": d1.T @ X, "b1": d1.sum(axis=0), "W2": d2.T @ a1, "b2": d2.sum(axis=0)}


def epoch_functions(X: numpy.ndarray, Y: numpy.ndarray) -> dict:
    compiled = compile_network(network("64,32,10", activation="tanh", loss="softmax-cross-entropy"))
    theta0 = compiled.initial_theta(seed=0)
    function = compiled.loss_and_gradient
    m = len(X)

    theta, symgd_rng, hand_rng = (
        theta0.copy(),
        numpy.random.default_rng(0),
        numpy.random.default_rng(0),
    )

    def symgd_epoch():
        order = symgd_rng.permutation(m)
        for start in range(0, m, BATCH):
            rows = order[start : start + BATCH]
            _, gradient = function(theta, X[rows], Y[rows])
            theta[:] -= LEARNING_RATE * gradient  # in place: theta is shared with the loop

    hand_params = {k: v.copy() for k, v in compiled.views(theta0.copy()).items()}

    def hand_epoch():
        order = hand_rng.permutation(m)
        for start in range(0, m, BATCH):
            rows = order[start : start + BATCH]
            _, grads = hand_written(X[rows], Y[rows], hand_params)
            for name, g in grads.items():
                hand_params[name] -= LEARNING_RATE * g

    # Same gradients before timing: the comparison is between equal computations.
    rows = numpy.arange(BATCH)
    loss, gradient = function(theta0, X[rows], Y[rows])
    hand_loss, hand_grads = hand_written(X[rows], Y[rows], compiled.views(theta0))
    numpy.testing.assert_allclose(loss, hand_loss, rtol=1e-12)
    for name, view in compiled.views(gradient).items():
        numpy.testing.assert_allclose(view, hand_grads[name], rtol=1e-10, atol=1e-14)

    functions = {"hand-written NumPy": hand_epoch, "symgd compiled": symgd_epoch}
    with contextlib.suppress(ImportError):
        functions["PyTorch CPU"] = _torch_epoch(X, Y, theta0, compiled)
    with contextlib.suppress(ImportError):
        functions["autograd"] = _autograd_epoch(X, Y, compiled)
    return functions


def _torch_epoch(X, Y, theta0, compiled):
    import torch

    torch.set_num_threads(1)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in compiled.views(theta0).items()}
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    rng = numpy.random.default_rng(0)

    def epoch():
        order = torch.tensor(rng.permutation(len(X)))
        for start in range(0, len(X), BATCH):
            rows = order[start : start + BATCH]
            a1 = torch.tanh(Xt[rows] @ params["W1"].T + params["b1"])
            log_p = torch.log_softmax(a1 @ params["W2"].T + params["b2"], dim=1)
            loss = -(Yt[rows] * log_p).sum() / len(rows)
            for p in params.values():
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params.values():
                    p -= LEARNING_RATE * p.grad

    return epoch


def _autograd_epoch(X, Y, compiled):
    import autograd
    import autograd.numpy as anp

    theta = compiled.initial_theta(seed=0)
    shapes = [(part, shape) for _, part, shape in compiled.blocks]

    def loss(t, Xb, Yb):
        W1, b1, W2, b2 = (t[part].reshape(shape) for part, shape in shapes)
        a1 = anp.tanh(anp.dot(Xb, W1.T) + b1)
        z2 = anp.dot(a1, W2.T) + b2
        z2 = z2 - anp.max(z2, axis=1, keepdims=True)
        log_p = z2 - anp.log(anp.sum(anp.exp(z2), axis=1, keepdims=True))
        return -anp.sum(Yb * log_p) / Xb.shape[0]

    gradient = autograd.grad(loss)
    rng = numpy.random.default_rng(0)

    def epoch():
        nonlocal theta
        order = rng.permutation(len(X))
        for start in range(0, len(X), BATCH):
            rows = order[start : start + BATCH]
            theta = theta - LEARNING_RATE * gradient(theta, X[rows], Y[rows])

    return epoch


def derive_and_compile(widths=(64, 256, 1024, 4096)) -> dict[int, float]:
    times = {}
    for width in widths:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            net = network(f"784,{width},128,10", activation="tanh", loss="softmax-cross-entropy")
            derive_network(net)
            compile_network(net)
            samples.append(time.perf_counter() - start)
        times[width] = statistics.median(samples)
    return times


def main() -> None:
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        limits = contextlib.nullcontext()
    X_train, _, y_train, _ = digits_dataset()
    Y_train = numpy.eye(10)[y_train]
    with limits:
        epochs = interleaved(epoch_functions(X_train, Y_train))
    base = epochs["hand-written NumPy"]
    print(f"One epoch, 64-32-10 tanh softmax-CE, digits ({len(X_train)} examples), batch {BATCH}:")
    for name, seconds in epochs.items():
        print(f"  {name:<20} {seconds * 1e3:8.2f} ms   {seconds / base:5.2f}x")
    for missing in ("PyTorch CPU", "autograd"):
        if missing not in epochs:
            print(f"  {missing:<20} not installed, skipped")
    print(
        f"  ratio compiled / hand-written: {epochs['symgd compiled'] / base:.2f}x (target <= 1.2x)"
    )

    dense_rules.cache_clear()
    start = time.perf_counter()
    dense_rules()
    print(
        "\nDense-layer rules in index notation (once per process): "
        f"{time.perf_counter() - start:.3f} s"
    )
    print("Derive + compile 784-W-128-10 (tanh, softmax-CE), median of 5:")
    for width, seconds in derive_and_compile().items():
        print(f"  W = {width:5d}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
