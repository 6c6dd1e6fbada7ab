"""symgd's JAX backend against hand-written NumPy and symgd's NumPy code, side by side.

Prints the median time of one training epoch (mini-batch 64, SGD, learning rate 0.1) of the
64-32-10 tanh softmax-cross-entropy network on scikit-learn's digits (1797 rows: 28 full
batches and one of 5 rows), and each one's ratio to hand-written NumPy:

* hand-written NumPy backprop (float64; from ``bench_network.py``);
* symgd's compiled NumPy code in a Python loop (float64);
* symgd's JAX code, one jitted step per mini-batch in a Python loop (float64, float32);
* symgd's JAX code, the whole epoch one jitted ``lax.scan`` (float64, float32), as
  :func:`symgd.training.jax_engine.train_network_jax` runs it;

and, once, a whole ``train_network(..., backend jax)`` run of 10 epochs including its XLA
compilations. It says which device JAX uses; without a GPU the figures are CPU figures.

Run: ``python benchmarks/bench_jax.py`` (about a minute on 2 cores; needs ``symgd[jax]``).
"""

from __future__ import annotations

import time

import numpy
from _timing import interleaved
from bench_network import BATCH, LEARNING_RATE, hand_written

from symgd.compile import compile_network, require_jax
from symgd.data import digits_dataset
from symgd.define import network
from symgd.training import train_network

NET = network("64,32,10", activation="tanh", loss="softmax-cross-entropy")


def numpy_epochs(X: numpy.ndarray, Y: numpy.ndarray) -> dict:
    compiled = compile_network(NET)
    theta, m = compiled.initial_theta(seed=0), len(X)
    rngs = [numpy.random.default_rng(0) for _ in range(2)]
    hand = {k: v.copy() for k, v in compiled.views(theta.copy()).items()}

    def hand_epoch():
        order = rngs[0].permutation(m)
        for start in range(0, m, BATCH):
            rows = order[start : start + BATCH]
            _, grads = hand_written(X[rows], Y[rows], hand)
            for name, g in grads.items():
                hand[name] -= LEARNING_RATE * g

    def symgd_epoch():
        order = rngs[1].permutation(m)
        for start in range(0, m, BATCH):
            rows = order[start : start + BATCH]
            _, gradient = compiled.loss_and_gradient(theta, X[rows], Y[rows])
            theta[:] -= LEARNING_RATE * gradient

    return {"hand-written NumPy": hand_epoch, "symgd NumPy": symgd_epoch}


def jax_epochs(X: numpy.ndarray, Y: numpy.ndarray, dtype: type) -> dict:
    jax = require_jax(dtype)
    jnp = jax.numpy
    compiled = compile_network(NET, backend="jax", dtype=dtype)
    function = compiled.loss_and_gradient
    data = (jnp.asarray(X, dtype=dtype), jnp.asarray(Y, dtype=dtype))
    m, full = len(X), len(X) // BATCH
    rng = numpy.random.default_rng(0)
    state = {
        "step": jnp.asarray(compiled.initial_theta(0), dtype=dtype),
        "scan": jnp.asarray(compiled.initial_theta(0), dtype=dtype),
    }

    @jax.jit
    def step(theta, rows, data):
        _, gradient = function(theta, data[0][rows], data[1][rows])
        return theta - LEARNING_RATE * gradient

    @jax.jit
    def scan(theta, batches, data):
        return jax.lax.scan(lambda t, rows: (step(t, rows, data), None), theta, batches)[0]

    def per_step_epoch():
        order, theta = rng.permutation(m), state["step"]
        for start in range(0, m, BATCH):
            theta = step(theta, order[start : start + BATCH], data)
        state["step"] = theta.block_until_ready()

    def scan_epoch():
        order = rng.permutation(m)
        theta = scan(state["scan"], order[: full * BATCH].reshape(full, BATCH), data)
        state["scan"] = step(theta, order[full * BATCH :], data).block_until_ready()

    name = numpy.dtype(dtype).name
    return {
        f"symgd JAX per-step jit {name}": per_step_epoch,
        f"symgd JAX lax.scan {name}": scan_epoch,
    }


def main() -> None:
    jax = require_jax(numpy.float64)
    devices = jax.devices()
    print(f"JAX {jax.__version__} on {', '.join(str(d) for d in devices)}")
    if not any(d.platform == "gpu" for d in devices):
        print("no GPU here: every figure below is a CPU figure")
    X_train, X_test, y_train, y_test = digits_dataset()
    X, y = numpy.concatenate([X_train, X_test]), numpy.concatenate([y_train, y_test])
    Y = compile_network(NET).targets(y)
    functions = numpy_epochs(X, Y)
    for dtype in (numpy.float64, numpy.float32):
        functions.update(jax_epochs(X, Y, dtype))
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    with threadpool_limits(limits=1, user_api="blas"):  # as bench_network.py: small matrices
        medians = interleaved(functions, repeat=30)
    base = medians["hand-written NumPy"]
    print(f"one epoch, {len(X)} rows, mini-batch {BATCH}, median of 30:")
    for name, seconds in medians.items():
        print(f"  {name:32s} {seconds * 1e3:8.2f} ms  {seconds / base:5.2f}x")
    compiled = compile_network(NET, backend="jax")
    start = time.perf_counter()
    train_network(compiled, X, Y, learning_rate=LEARNING_RATE, epochs=10, batch_size=BATCH)
    whole = time.perf_counter() - start
    print(f"train_network backend jax, 10 epochs, compilations included: {whole:.2f} s")


if __name__ == "__main__":
    main()
