"""The NumPy side of the stable forms: the helpers compiled code calls.

The symbolic rewrites (:mod:`symgd.compile.rewrites`) turn overflow-prone formulas into
calls of these functions; :data:`NUMERIC_HELPERS` names them for the generated code, and
an exported module carries their source. Each is accurate for every finite input and
costs about what the naive formula costs (measured in ``benchmarks/bench_stable.py``).

Example:
    >>> import numpy
    >>> stable_sigmoid(numpy.array([-800.0, 0.0, 800.0])).tolist()
    [0.0, 0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy

#: symgd's one convention for the step at 0: compiled code gives ``H(0)``, hence
#: ReLU'(0) = 0, wherever the expression leaves it at SymPy's default ``½`` -- in scalar
#: objectives, networks and the JAX backend alike, as PyTorch and JAX do. The derivation
#: follows it too (:data:`symgd.derivation.scalar.KINK_CONVENTION`).
HEAVISIDE_AT_ZERO = 0.0


def stable_sigmoid(z: numpy.ndarray) -> numpy.ndarray:
    r"""``σ(z) = 1/(1 + e^{−z})`` without overflow warnings or lost values for any finite ``z``.

    The textbook formula is accurate to a few ulp wherever ``e^{−z}`` is finite; where it
    overflows (``z < −709`` in float64) the result is a subnormal number and
    :math:`\sigma(z) = e^{z}` to working precision. Computing it this way costs the same
    as the naive formula (measured in ``benchmarks/bench_stable.py``), where the
    branch-free ``e^{−|z|}`` form took 1.7–2× as long.

    Example:
        >>> stable_sigmoid(numpy.array([-800.0, -720.0, 0.0, 800.0]))
        array([0.0000000e+000, 2.0322308e-313, 5.0000000e-001, 1.0000000e+000])
    """
    z = numpy.asarray(z)
    limit = _EXP_LIMIT[z.dtype.type] if z.dtype.type in _EXP_LIMIT else _EXP_LIMIT[numpy.float64]
    with numpy.errstate(over="ignore"):
        e = numpy.exp(-z)
    e += 1.0
    value = numpy.divide(1.0, e, out=_out(e))
    if z.size and numpy.min(z) < -limit:
        tiny = z < -limit
        value = numpy.where(tiny, numpy.exp(numpy.where(tiny, z, 0.0)), value)
    return value


#: Largest argument of ``exp`` that does not overflow, per floating-point type.
_EXP_LIMIT = {t: float(numpy.log(numpy.finfo(t).max)) for t in (numpy.float64, numpy.float32)}


def _out(array: numpy.ndarray) -> numpy.ndarray | None:
    """``array`` as an in-place output when it is one (a 0-d scalar is not)."""
    return array if isinstance(array, numpy.ndarray) and array.ndim else None


def stable_softplus_sigmoid(z: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    r"""``softplus(z)`` and ``σ(z)`` together, from one :math:`e = e^{-|z|}` (never overflows).

    .. math:: \operatorname{softplus}(z) = \max(z, 0) + \log(1 + e), \qquad
        \sigma(z) = \frac{1}{1 + e} \ (z \ge 0), \quad \frac{e}{1 + e} \ (z < 0).

    The logistic loss needs both (the loss and its gradient): one exponential and one
    ``log1p`` instead of the two exponentials of ``logaddexp`` and a separate sigmoid.

    Example:
        >>> softplus, sigma = stable_softplus_sigmoid(numpy.array([-800.0, 0.0, 800.0]))
        >>> softplus.tolist(), sigma.tolist()
        ([0.0, 0.6931471805599453, 800.0], [0.0, 0.5, 1.0])
    """
    z = numpy.asarray(z)
    e = numpy.abs(z)
    e = numpy.negative(e, out=_out(e))
    e = numpy.exp(e, out=_out(e))
    softplus_ = numpy.log1p(e) + numpy.maximum(z, 0.0)
    sigma = e + 1.0
    sigma = numpy.divide(1.0, sigma, out=_out(sigma))
    if isinstance(sigma, numpy.ndarray) and sigma.ndim:
        numpy.multiply(sigma, e, out=sigma, where=z < 0)
    elif z < 0:
        sigma = sigma * e
    return softplus_, sigma


def stable_sigmoid_derivative(z: numpy.ndarray) -> numpy.ndarray:
    r"""``σ'(z) = σ(z) σ(−z) = e^{−|z|} / (1 + e^{−|z|})²``, one exponential, no overflow.

    Example:
        >>> stable_sigmoid_derivative(numpy.array([-800.0, 0.0, 800.0]))
        array([0.  , 0.25, 0.  ])
    """
    e = numpy.exp(-numpy.abs(z))
    denominator = 1.0 + e
    return numpy.divide(e, denominator * denominator, out=_out(denominator))


def stable_sech(z: numpy.ndarray) -> numpy.ndarray:
    r"""``sech z = 1/cosh z`` without overflow: :math:`\frac{2 e^{-|z|}}{1 + e^{-2|z|}}`.

    Example:
        >>> stable_sech(numpy.array([0.0, 800.0]))
        array([1., 0.])
    """
    e = numpy.exp(-numpy.abs(z))
    return 2 * e / (1 + e * e)


def stable_logsumexp(*values: numpy.ndarray) -> numpy.ndarray:
    r"""``log Σ_j e^{v_j}`` element-wise, with the max ``m`` subtracted once.

    .. math:: m + \operatorname{log1p}\Big(\sum_{j \ne \arg\max} e^{v_j - m}\Big)

    Example:
        >>> float(stable_logsumexp(numpy.array(1000.0), numpy.array(1000.0)))
        1000.6931471805599
    """
    peak, rest = _peak_and_rest(values)
    return peak + numpy.log1p(rest)


def stable_log_softmax(
    numerator: tuple[numpy.ndarray, ...], denominator: tuple[numpy.ndarray, ...]
) -> numpy.ndarray:
    r"""``log(Σ_A e^{a} / Σ_B e^{b})`` with each sum's max subtracted once.

    .. math:: (m_A - m_B) + \operatorname{log1p}(s_A) - \operatorname{log1p}(s_B)

    Accurate when the result is close to 0 (softmax near 1) and when it is far below.

    Example:
        >>> big = numpy.array(1e4)
        >>> float(stable_log_softmax((big,), (big, big)))
        -0.6931471805599453
    """
    peak_a, rest_a = _peak_and_rest(numerator)
    peak_b, rest_b = _peak_and_rest(denominator)
    return (peak_a - peak_b) + (numpy.log1p(rest_a) - numpy.log1p(rest_b))


def _peak_and_rest(values: tuple) -> tuple[numpy.ndarray, numpy.ndarray]:
    """The max ``m`` of the values and ``Σ e^{v − m}`` over all but one maximal value."""
    if len(values) == 1:
        peak = numpy.asarray(values[0])
        return peak, numpy.zeros_like(peak)
    stacked = numpy.stack(numpy.broadcast_arrays(*values))
    top = numpy.argmax(stacked, axis=0)
    peak = numpy.take_along_axis(stacked, top[None], axis=0)[0]
    terms = numpy.exp(stacked - peak)
    numpy.put_along_axis(terms, top[None], 0.0, axis=0)
    return peak, terms.sum(axis=0)


def piecewise(conditions: tuple, branches: tuple[Callable, ...], arguments: tuple) -> numpy.ndarray:
    """Evaluate a piecewise function, each branch only where it is selected.

    ``numpy.select`` evaluates every branch everywhere (``log`` of the negative
    half, warnings, ``nan``); here branch ``k`` is called on the entries where
    condition ``k`` holds and no earlier one does. Entries no condition selects
    are ``nan``, as in SymPy.

    Args:
        conditions: One boolean array (or bool) per branch.
        branches: One function of ``arguments`` per branch.
        arguments: The arrays (or scalars) the branches read.

    Returns:
        The values, shaped like the broadcast arguments and conditions.

    Example:
        >>> x = numpy.array([-1.0, 4.0])
        >>> piecewise((x > 0, True), (numpy.sqrt, lambda x: x * x), (x,))
        array([1., 2.])
    """
    arrays = numpy.broadcast_arrays(*(numpy.asarray(a) for a in (*arguments, *conditions)))
    shape = arrays[0].shape if arrays else ()
    dtype = numpy.result_type(*(a for a in arrays[: len(arguments)] if a.dtype.kind == "f"), 0.0)
    out = numpy.full(shape, numpy.nan, dtype=dtype)
    remaining = numpy.ones(shape, dtype=bool)
    for condition, branch in zip(arrays[len(arguments) :], branches, strict=True):
        selected = remaining & condition
        if selected.any():
            out[selected] = branch(*(a[selected] for a in arrays[: len(arguments)]))
        remaining &= ~condition
    return out[()] if out.ndim == 0 else out


def logsumexp_rows(a: numpy.ndarray) -> numpy.ndarray:
    """``log Σ exp`` over the last axis, shifted by the row maximum (no overflow).

    Example:
        >>> round(float(logsumexp_rows(numpy.array([1000.0, 1000.0]))), 6)
        1000.693147
    """
    peak = numpy.max(a, axis=-1, keepdims=True)
    return numpy.log(numpy.sum(numpy.exp(a - peak), axis=-1)) + peak[..., 0]


def softmax_rows(a: numpy.ndarray) -> numpy.ndarray:
    """The softmax over the last axis, shifted by the row maximum (no overflow).

    Example:
        >>> softmax_rows(numpy.array([[1000.0, 1000.0]])).tolist()
        [[0.5, 0.5]]
    """
    e = numpy.exp(a - numpy.max(a, axis=-1, keepdims=True))
    return e / numpy.sum(e, axis=-1, keepdims=True)


def logsumexp_softmax_rows(a: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    r"""``logsumexp`` and ``softmax`` over the last axis together, from one exponential.

    .. math:: e = e^{a - \max a}, \quad s = \textstyle\sum e, \qquad
        \operatorname{logsumexp}(a) = \max a + \log s, \quad \operatorname{softmax}(a) = e / s

    Softmax regression needs both (the loss and its gradient).

    Example:
        >>> lse, p = logsumexp_softmax_rows(numpy.array([[1000.0, 1000.0], [0.0, -1000.0]]))
        >>> lse.round(6).tolist(), p.tolist()
        ([1000.693147, 0.0], [[0.5, 0.5], [1.0, 0.0]])
    """
    peak = numpy.max(a, axis=-1, keepdims=True)
    e = numpy.subtract(a, peak)
    e = numpy.exp(e, out=_out(e))
    total = numpy.sum(e, axis=-1, keepdims=True)
    softmax = numpy.divide(e, total, out=_out(e))
    return numpy.log(total[..., 0]) + peak[..., 0], softmax


#: Names the generated code may call, beside ``numpy``.
NUMERIC_HELPERS: dict[str, Callable] = {
    "_logsumexp_rows": logsumexp_rows,
    "_softmax_rows": softmax_rows,
    "_logsumexp_softmax_rows": logsumexp_softmax_rows,
    "_sigmoid": stable_sigmoid,
    "_sigmoid_derivative": stable_sigmoid_derivative,
    "_softplus_sigmoid": stable_softplus_sigmoid,
    "_sech": stable_sech,
    "_logsumexp": stable_logsumexp,
    "_log_softmax": stable_log_softmax,
    "_piecewise": piecewise,
}
