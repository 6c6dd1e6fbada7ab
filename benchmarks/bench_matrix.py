"""Compiled vector objectives against hand-written NumPy and the autodiff libraries, side by side.

Logistic regression at m = 100 000, d = 100 (float64, seeded), medians of interleaved runs,
each printed with its ratio to hand-written NumPy:

* the gradient alone: hand NumPy, ``einsum``, JAX jit, autograd, PyTorch CPU;
* loss and gradient: hand NumPy, symgd compiled (cross-entropy and softplus forms), the same
  peers (target: symgd ≤ 1.05× hand NumPy);
* the Newton Hessian ``X.T @ (c[:, None] * X)`` with its bias row: hand NumPy and symgd.

A peer that is not installed is reported as such. Never a timed assertion.

Run: ``python benchmarks/bench_matrix.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import numpy
from _timing import interleaved

from symgd.compile import compile_tensor
from symgd.compile.numeric import stable_sigmoid
from symgd.define import tensor_objective
from symgd.derivation import derive_tensor

M, D = 100_000, 100
CROSS_ENTROPY = "-sum(y*log(sigmoid(X@w+b)) + (1-y)*log(1-sigmoid(X@w+b)))/m"
SOFTPLUS = "sum(softplus(z) - y*z)/m"


def problem() -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, float]:
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((M, D))
    y = (X @ rng.standard_normal(D) + 0.5 * rng.standard_normal(M) > 0).astype(float)
    return X, y, 0.1 * rng.standard_normal(D), 0.1


def hand_functions(X, y, w, b) -> dict:
    def gradient():
        p = stable_sigmoid(X @ w + b)
        r = p - y
        return X.T @ r / M, r.sum() / M

    def loss_and_gradient():
        z = X @ w + b
        p = stable_sigmoid(z)
        r = p - y
        return numpy.sum(numpy.logaddexp(0, z) - y * z) / M, X.T @ r / M, r.sum() / M

    def einsum_gradient():
        p = stable_sigmoid(numpy.einsum("ij,j->i", X, w) + b)
        r = p - y
        return numpy.einsum("ij,i->j", X, r) / M, r.sum() / M

    return {"gradient": gradient, "both": loss_and_gradient, "einsum": einsum_gradient}


def peers(X, y, w, b) -> dict:
    """``{name: (gradient, loss_and_gradient)}`` for each autodiff library installed."""
    found: dict = {}
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jax_loss(w, b, X, y):
            z = X @ w + b
            return jnp.sum(jnp.logaddexp(0.0, z) - y * z) / X.shape[0]

        jax_grad = jax.jit(jax.grad(jax_loss, argnums=(0, 1)))
        jax_both = jax.jit(jax.value_and_grad(jax_loss, argnums=(0, 1)))
        arrays = [jnp.asarray(a) for a in (w, b, X, y)]
        found["JAX jit"] = (
            lambda: jax.block_until_ready(jax_grad(*arrays)),
            lambda: jax.block_until_ready(jax_both(*arrays)),
        )
    except ImportError:
        found["JAX jit"] = None
    try:
        import autograd
        import autograd.numpy as anp

        def autograd_loss(w, b):
            z = anp.dot(X, w) + b
            return anp.sum(anp.logaddexp(0.0, z) - y * z) / M

        autograd_grad = autograd.grad(autograd_loss, argnum=(0, 1))
        autograd_both = autograd.value_and_grad(autograd_loss, argnum=(0, 1))
        found["autograd"] = (lambda: autograd_grad(w, b), lambda: autograd_both(w, b))
    except ImportError:
        found["autograd"] = None
    try:
        import torch

        tX, ty = torch.from_numpy(X), torch.from_numpy(y)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)

        def torch_both():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(tX @ tw + tb, ty)
            return (loss.item(), *torch.autograd.grad(loss, (tw, tb)))

        found["PyTorch CPU"] = (torch_both, torch_both)
    except ImportError:
        found["PyTorch CPU"] = None
    return found


def symgd_functions(X, y, w, b) -> dict:
    cross_entropy = compile_tensor(
        derive_tensor(tensor_objective(CROSS_ENTROPY, "w[d], b", "X[m,d], y[m]")), hessian=True
    )
    softplus = compile_tensor(
        derive_tensor(
            tensor_objective(SOFTPLUS, "w[d], b", "X[m,d], y[m]", define=("z = X@w + b",))
        )
    )
    params, data = {"w": w, "b": b}, {"X": X, "y": y}
    expected = hand_functions(X, y, w, b)["both"]()
    for compiled in (cross_entropy, softplus):
        loss, gradient = compiled.loss_and_gradient(params, data)
        numpy.testing.assert_allclose(loss, expected[0], rtol=1e-12)
        numpy.testing.assert_allclose(gradient["w"], expected[1], rtol=1e-9, atol=1e-14)
    return {
        "cross-entropy": lambda: cross_entropy.loss_and_gradient(params, data),
        "softplus": lambda: softplus.loss_and_gradient(params, data),
        "hessian": lambda: cross_entropy.hessian(params, data),
        "hessian blocks": lambda: cross_entropy._namespace["hessian"](w, b, X, y),
    }


def report(title: str, times: dict[str, float | None]) -> None:
    base = times["hand-written NumPy"]
    print(f"\n{title}")
    for name, seconds in times.items():
        if seconds is None:
            print(f"  {name:<28} not installed")
        else:
            print(f"  {name:<28} {seconds * 1e3:9.3f} ms   {seconds / base:5.2f}x")


def main() -> None:
    X, y, w, b = problem()
    hand, compiled, others = (
        hand_functions(X, y, w, b),
        symgd_functions(X, y, w, b),
        peers(X, y, w, b),
    )
    missing = {name: None for name, pair in others.items() if pair is None}
    installed = {name: pair for name, pair in others.items() if pair is not None}

    gradient = {"hand-written NumPy": hand["gradient"], "einsum": hand["einsum"]}
    gradient |= {name: pair[0] for name, pair in installed.items()}
    report(f"Logistic-regression gradient, m = {M}, d = {D}", interleaved(gradient) | missing)

    both = {"hand-written NumPy": hand["both"]}
    both |= {f"symgd {k}": compiled[k] for k in ("cross-entropy", "softplus")}
    both |= {name: pair[1] for name, pair in installed.items()}
    times = interleaved(both)
    report(f"Logistic-regression loss and gradient, m = {M}, d = {D}", times | missing)
    ratio = times["symgd cross-entropy"] / times["hand-written NumPy"]
    print(f"  symgd / hand-written = {ratio:.3f}x (target <= 1.05x)")

    def hand_hessian():
        z = X @ w + b
        c = stable_sigmoid(z) * stable_sigmoid(-z) / M
        corner = X.T @ (c[:, None] * X)
        column = X.T @ c
        return numpy.block([[corner, column[:, None]], [column[None, :], c.sum()]])

    numpy.testing.assert_allclose(compiled["hessian"](), hand_hessian(), rtol=1e-9, atol=1e-15)
    hessian = {
        "hand-written NumPy": hand_hessian,
        "symgd hessian (full matrix)": compiled["hessian"],
        "symgd hessian blocks": compiled["hessian blocks"],
    }
    report(f"Newton Hessian X.T @ (c[:, None] * X), m = {M}, d = {D}", interleaved(hessian, 10))


if __name__ == "__main__":
    main()
