"""symgd's compiled CNN against hand-written NumPy and PyTorch CPU, side by side in one run.

Prints the median time of one training epoch (mini-batch 64, Adam, learning rate 0.01) of
``conv(8,3),relu,maxpool(2),flatten,dense(10)`` with softmax cross-entropy on scikit-learn's
digits as 1×8×8 images (1437 training rows: 22 full batches and one of 29), and each one's
ratio to hand-written NumPy (target <= 1.2x, and ahead of PyTorch CPU):

* hand-written NumPy (float64): windows by ``sliding_window_view``, the convolution and its two
  gradients as ``einsum`` contractions, max pooling by reshape and ``argmax``;
* symgd's compiled code: ``strategy="auto"`` (the default: im2col for the first convolution,
  einsum elsewhere), ``"einsum"`` and ``"im2col"`` throughout;
* PyTorch CPU (float64 and float32, ``torch.nn`` layers and autograd), when installed.

Every NumPy loop shares the same shuffling, gathers and Adam update (on the flat parameter
vector); all run with one BLAS thread and ``torch.set_num_threads(1)``, as training does.

Run: ``python benchmarks/bench_cnn.py`` (about half a minute on 2 cores).
"""

from __future__ import annotations

import contextlib

import numpy
from _timing import interleaved
from numpy.lib.stride_tricks import sliding_window_view

from symgd.compile import compile_architecture
from symgd.data import digits_dataset
from symgd.define.architecture import architecture

SPEC = "conv(8,3),relu,maxpool(2),flatten,dense(10)"
BATCH = 64
LEARNING_RATE = 0.01


def hand_written(X: numpy.ndarray, Y: numpy.ndarray, params: dict, grads: dict) -> float:
    """Textbook NumPy backprop of the CNN; fills ``grads`` and returns the mean loss."""
    K, b, W, c = params["K1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    windows = sliding_window_view(X, (3, 3), axis=(2, 3))  # (m, 1, 6, 6, 3, 3)
    z1 = numpy.einsum("ncijpq,ocpq->noij", windows, K, optimize=True) + b[:, None, None]
    a1 = numpy.maximum(z1, 0)
    blocks = a1.reshape(m, 8, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(m, 8, 3, 3, 4)
    first = blocks.argmax(axis=4)
    a2 = numpy.take_along_axis(blocks, first[..., None], axis=4).reshape(m, 72)
    z3 = a2 @ W.T + c
    shifted = z3 - z3.max(axis=1, keepdims=True)
    log_p = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))
    d3 = (numpy.exp(log_p) - Y) / m
    grads["W2"][...] = d3.T @ a2
    grads["b2"][...] = d3.sum(axis=0)
    d2 = (d3 @ W).reshape(m, 8, 3, 3, 1)
    routed = (numpy.arange(4) == first[..., None]) * d2
    d1 = routed.reshape(m, 8, 3, 3, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(m, 8, 6, 6)
    d1 *= z1 > 0
    grads["K1"][...] = numpy.einsum("noij,ncijpq->ocpq", d1, windows, optimize=True)
    grads["b1"][...] = d1.sum(axis=(0, 2, 3))
    return -numpy.sum(Y * log_p) / m


class Adam:
    """Adam on a flat vector, in place (the same update for every NumPy loop)."""

    def __init__(self, size: int, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.m, self.v, self.t = numpy.zeros(size), numpy.zeros(size), 0
        self.b1, self.b2, self.eps = b1, b2, eps

    def step(self, theta: numpy.ndarray, gradient: numpy.ndarray) -> None:
        self.t += 1
        self.m *= self.b1
        self.m += (1 - self.b1) * gradient
        self.v *= self.b2
        self.v += (1 - self.b2) * gradient**2
        alpha = LEARNING_RATE * numpy.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        theta -= alpha * self.m / (numpy.sqrt(self.v) + self.eps)


def numpy_epochs(X: numpy.ndarray, Y: numpy.ndarray) -> dict:
    arch = architecture(SPEC, (1, 8, 8))
    auto = compile_architecture(arch)
    einsum = compile_architecture(arch, strategy="einsum")
    im2col = compile_architecture(arch, strategy="im2col")
    theta0, m = einsum.initial_theta(seed=0), len(X)

    def loop(loss_and_gradient):
        theta, rng, adam = theta0.copy(), numpy.random.default_rng(0), Adam(theta0.size)

        def epoch():
            order = rng.permutation(m)
            for start in range(0, m, BATCH):
                rows = order[start : start + BATCH]
                _, gradient = loss_and_gradient(theta, X[rows], Y[rows])
                adam.step(theta, gradient)

        return epoch

    gradient_buffer = numpy.empty_like(theta0)

    def hand(theta, Xb, Yb):
        loss = hand_written(Xb, Yb, einsum.views(theta), einsum.views(gradient_buffer))
        return loss, gradient_buffer

    # Same numbers before timing: the comparison is between equal computations.
    rows = numpy.arange(BATCH)
    expected = einsum.loss_and_gradient(theta0, X[rows], Y[rows])
    for function in (hand, im2col.loss_and_gradient, auto.loss_and_gradient):
        loss, gradient = function(theta0, X[rows], Y[rows])
        numpy.testing.assert_allclose(loss, expected[0], rtol=1e-12)
        numpy.testing.assert_allclose(gradient, expected[1], rtol=1e-9, atol=1e-14)
    functions = {
        "hand-written NumPy": loop(hand),
        "symgd compiled (auto)": loop(auto.loss_and_gradient),
        "symgd compiled (einsum)": loop(einsum.loss_and_gradient),
        "symgd compiled (im2col)": loop(im2col.loss_and_gradient),
    }
    with contextlib.suppress(ImportError):
        functions |= torch_epochs(X, Y)
    return functions


def torch_epochs(X: numpy.ndarray, Y: numpy.ndarray) -> dict:
    import torch  # noqa: PLC0415 - optional

    torch.set_num_threads(1)
    labels = numpy.argmax(Y, axis=1)

    def loop(dtype):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(72, 10),
        ).to(dtype)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(labels)
        rng = numpy.random.default_rng(0)

        def epoch():
            order = torch.tensor(rng.permutation(len(X)))
            for start in range(0, len(X), BATCH):
                rows = order[start : start + BATCH]
                loss = torch.nn.functional.cross_entropy(model(Xt[rows]), yt[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        return epoch

    return {"PyTorch CPU float64": loop(torch.float64), "PyTorch CPU float32": loop(torch.float32)}


def main() -> None:
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - comes with scikit-learn

    X_train, _, y_train, _ = digits_dataset()
    X = numpy.ascontiguousarray(X_train.reshape(-1, 1, 8, 8))
    Y = numpy.eye(10)[y_train]
    with threadpool_limits(limits=1, user_api="blas"):
        functions = numpy_epochs(X, Y)
        times = interleaved(functions, repeat=15)
    hand = times["hand-written NumPy"]
    print(f"one epoch of {SPEC} on digits 1x8x8 ({len(X)} rows, batch {BATCH}, Adam):")
    for name, seconds in times.items():
        print(f"  {name:26s} {seconds * 1e3:8.1f} ms   {seconds / hand:5.2f}x hand-written NumPy")
    if not any(name.startswith("PyTorch") for name in times):
        print("  PyTorch CPU                (not installed)")


if __name__ == "__main__":
    main()
