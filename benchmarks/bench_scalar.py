"""Compiled gradient against hand-written NumPy, side by side in one run.

Prints the median time of each and the ratio (compiled / hand-written):

* the seed linear regression at m = 10⁶ (target ≤ 1.2×);
* logistic regression with 10 weights at m = 10⁵ (target ≤ 1.5×; naive lambdify 4.2×),
  also against naive ``sympy.lambdify`` of the per-example gradient expressions.

Run: ``python benchmarks/bench_scalar.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import statistics
import time

import numpy
import sympy
from _timing import interleaved

from symgd import compile_objective, derive, linear_regression, logistic_regression


def median_time(function, *args, repeat: int = 30) -> float:
    function(*args)  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seed(m: int = 1_000_000) -> dict[str, float]:
    rng = numpy.random.default_rng(0)
    x = rng.uniform(-1, 1, m)
    y = 2 * x + 1 + 0.3 * rng.standard_normal(m)
    compiled = compile_objective(derive(linear_regression()))
    X = compiled.prepare({"x": x, "y": y})
    theta = numpy.array([0.5, -0.5])
    gradient = compiled.gradient_function

    def hand():
        w, b = theta
        r = w * x + b - y
        return numpy.array([x @ r / m, r.sum() / m])

    numpy.testing.assert_allclose(gradient(theta, X), hand(), rtol=1e-10)
    return interleaved({"hand-written NumPy": hand, "symgd compiled": lambda: gradient(theta, X)})


def logistic(m: int = 100_000, d: int = 10) -> dict[str, float]:
    rng = numpy.random.default_rng(0)
    features = rng.standard_normal((m, d))
    labels = (features @ rng.standard_normal(d) + 0.5 * rng.standard_normal(m) > 0).astype(float)
    derivation = derive(logistic_regression(features=d))
    compiled = compile_objective(derivation)
    data = {f"x{j + 1}": features[:, j] for j in range(d)} | {"y": labels}
    X = compiled.prepare(data)
    theta = 0.1 * rng.standard_normal(d + 1)
    gradient = compiled.gradient_function

    def hand():
        w, b = theta[:d], theta[d]
        p = 1 / (1 + numpy.exp(-(features @ w + b)))
        r = p - labels
        return numpy.concatenate([features.T @ r / m, [r.sum() / m]])

    # Naive lambdify: one expression per parameter, evaluated and averaged separately.
    obj = derivation.objective
    naive_functions = [
        sympy.lambdify(obj.params + obj.data, g.rewrite(sympy.exp), modules="numpy")
        for g in derivation.gradient.values()
    ]
    columns = [data[s.name] for s in obj.data]

    def naive():
        return numpy.array([numpy.mean(f(*theta, *columns)) for f in naive_functions])

    numpy.testing.assert_allclose(gradient(theta, X), hand(), rtol=1e-9)
    numpy.testing.assert_allclose(naive(), hand(), rtol=1e-9)
    return interleaved(
        {
            "hand-written NumPy": hand,
            "symgd compiled": lambda: gradient(theta, X),
            "naive lambdify": naive,
        }
    )


def report(title: str, times: dict[str, float], target: float) -> None:
    base = times["hand-written NumPy"]
    print(f"\n{title}")
    for name, seconds in times.items():
        print(f"  {name:<20} {seconds * 1e3:9.3f} ms   {seconds / base:5.2f}x")
    ratio = times["symgd compiled"] / base
    print(
        f"  compiled / hand-written = {ratio:.2f}x (target <= {target}x): "
        f"{'met' if ratio <= target else 'NOT met'}"
    )


if __name__ == "__main__":
    report("Seed linear regression gradient, m = 1e6", seed(), 1.2)
    report("Logistic regression gradient, 10 weights, m = 1e5", logistic(), 1.5)
