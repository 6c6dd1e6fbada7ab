"""symgd on Dask against dask-glm's gradient descent and in-memory symgd, side by side.

Logistic regression ``p = σ(w x + b)`` on the same seeded data (m = 2·10⁶ by default), time per
full-batch iteration (median of several runs, each ``(t(1 + k) − t(1)) / k`` so that setup
cancels):

* symgd on a Dask array (chunks of 250 000 rows, the local threaded scheduler): one pass over
  the chunks per step, each chunk running the compiled NumPy gradient;
* dask-glm's ``gradient_descent`` (``dask_glm.algorithms``, the logistic family) on the same
  Dask array with a column of ones for the intercept; its backtracking line search makes more
  than one pass per step, and it persists ``Xβ`` in memory;
* symgd in memory on NumPy arrays.

Prints each time and the ratios (symgd-on-Dask / dask-glm, symgd-on-Dask / in memory).
dask-glm is a reference here, not a dependency: ``pip install 'symgd[dask]' dask-glm``.

Run: ``python benchmarks/bench_dask.py [m]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy

from symgd import compile_objective, derive, logistic_regression
from symgd.training import train

CHUNK = 250_000


def per_iteration(run, steps: int = 5, repeat: int = 3) -> float:
    """Median of ``(t(1 + steps) − t(1)) / steps`` over ``repeat`` tries."""
    run(1)  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(1)
        one = time.perf_counter() - start
        start = time.perf_counter()
        run(1 + steps)
        times.append((time.perf_counter() - start - one) / steps)
    return statistics.median(times)


def main(m: int = 2_000_000) -> dict[str, float]:
    import dask.array as da
    from dask_glm.algorithms import gradient_descent
    from dask_glm.families import Logistic

    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(m)
    y = (rng.random(m) < 1 / (1 + numpy.exp(-(2 * x - 0.5)))).astype(numpy.float64)
    compiled = compile_objective(derive(logistic_regression()))
    start = {"w": 0.0, "b": 0.0}
    x_dask, y_dask = da.from_array(x, chunks=CHUNK), da.from_array(y, chunks=CHUNK)
    features = da.from_array(numpy.column_stack([x, numpy.ones(m)]), chunks=(CHUNK, 2))

    def symgd_dask(epochs: int):
        train(compiled, {"x": x_dask, "y": y_dask}, start, learning_rate=1.0, epochs=epochs)

    def symgd_memory(epochs: int):
        train(compiled, {"x": x, "y": y}, start, learning_rate=1.0, epochs=epochs)

    def dask_glm(iterations: int):
        warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
        gradient_descent(features, y_dask, max_iter=iterations, tol=-1.0, family=Logistic)

    times = {
        "symgd on Dask": per_iteration(symgd_dask),
        "dask-glm gradient_descent": per_iteration(dask_glm),
        "symgd in memory": per_iteration(symgd_memory),
    }
    print(f"logistic regression, m = {m:,}, chunks of {CHUNK:,} rows; seconds per full-batch step")
    for name, seconds in times.items():
        print(f"  {name:28s} {seconds * 1e3:8.1f} ms")
    dask_time = times["symgd on Dask"]
    print(f"  symgd on Dask / dask-glm        {dask_time / times['dask-glm gradient_descent']:.2f}")
    print(f"  symgd on Dask / symgd in memory {dask_time / times['symgd in memory']:.2f}")
    return times


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
