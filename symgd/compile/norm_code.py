r"""Stage 5, compile: the generated NumPy lines of batch normalisation, ``batchnorm``.

On features ``(m, d)`` the statistics run over the examples (axis 0); on images
``(m, c, h, w)`` over the examples and the pixels of each channel (axes 0, 2, 3). With ``N``
the number of values each statistic averages (``m``, or ``m·h·w``):

.. math:: \mu = \frac1N \sum x, \quad \sigma^2 = \frac1N \sum (x - \mu)^2, \quad
    \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad y = \gamma \hat x + \beta.

The backward pass is the compact textbook form (the sums over the same axes):

.. math:: \frac{\partial J}{\partial x} = \frac{\gamma}{N \sqrt{\sigma^2 + \epsilon}}
    \Big(N g - \sum g - \hat x \sum g \hat x\Big), \quad
    \frac{\partial J}{\partial \gamma} = \sum g \hat x, \quad
    \frac{\partial J}{\partial \beta} = \sum g.

Running averages (for inference), as PyTorch: when the generated function's ``running``
argument is a dict, the training forward updates ``running["mean{k}"]`` and
``running["var{k}"]`` in place with momentum 0.1 (the variance unbiased, ``N/(N − 1)``;
missing entries start at 0 and 1). The inference forward (``training=False``) normalises with
them when ``running`` is given, else with the batch's statistics. ``ε = 10⁻⁵``.

Example:
    >>> from symgd.define.architecture import architecture
    >>> layer = architecture("dense(3),batchnorm,dense(2)", (4,)).layers[1]
    >>> print("\n".join(forward_lines(layer, 2, training=False)))
    # batchnorm: a2 = gamma2 xhat + beta2, xhat = (a1 - mu) / sqrt(var + 1e-05) per feature
    if running is not None:  # inference: the running averages of training
        mu2 = running["mean2"]
        var2 = running["var2"]
    else:
        mu2 = a1.mean(axis=0)
        var2 = a1.var(axis=0)
    inv2 = 1.0 / numpy.sqrt(var2 + 1e-05)
    xhat2 = (a1 - mu2) * inv2
    a2 = gamma2 * xhat2 + beta2
"""

from __future__ import annotations

from symgd.define.architecture import Layer

#: Added to the variance before the square root (PyTorch's default).
EPSILON = 1e-5
#: Weight of the new batch in the running averages (PyTorch's default).
MOMENTUM = 0.1


def _shape(layer: Layer) -> tuple[str, str, str, str, int]:
    """``(gamma, beta, axes, per-channel view suffix, pixels per example and channel)``."""
    if layer.kind != "batchnorm":
        raise ValueError(f"norm_code handles batchnorm layers, not {layer.kind} ({layer.text})")
    gamma, beta = (name for name, _ in layer.parameters)
    if len(layer.input_shape) == 3:
        _, height, width = layer.input_shape
        return gamma, beta, "(0, 2, 3), keepdims=True", "[:, None, None]", height * width
    return gamma, beta, "0", "", 1


def _statistics(x: str, k: int, axes: str) -> list[str]:
    """The batch mean and biased variance of ``x``."""
    return [f"mu{k} = {x}.mean(axis={axes})", f"var{k} = {x}.var(axis={axes})"]


def forward_lines(layer: Layer, k: int, training: bool) -> list[str]:
    """Source lines computing ``a{k}`` from ``a{k-1}``: normalise, then scale and shift.

    Defines ``mu{k}``, ``var{k}``, ``inv{k}`` (``1/√(σ² + ε)``) and ``xhat{k}`` for the
    backward lines. They read the name ``running`` (``None`` or the dict of running averages),
    which every generated function running them must define.

    Args:
        layer: A ``batchnorm`` layer on ``(d,)`` features or ``(c, h, w)`` images.
        k: Its position in the stack (1-based).
        training: ``True``: batch statistics, and the running averages updated when
            ``running`` is given. ``False`` (inference): the running averages when given.

    Returns:
        Unindented lines (the bodies of ``if`` indented by four spaces).

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("batchnorm,flatten,dense(2)", (2, 3, 3)).layers[0]
        >>> forward_lines(layer, 1, training=True)[1]
        'mu1 = a0.mean(axis=(0, 2, 3), keepdims=True)'
    """
    gamma, beta, axes, channel, pixels = _shape(layer)
    x = f"a{k - 1}"
    per = "per channel" if channel else "per feature"
    lines = [
        f"# {layer.text}: a{k} = {gamma} xhat + {beta}, xhat = ({x} - mu) / sqrt(var + "
        f"{EPSILON!r}) {per}"
    ]
    if training:
        count = f"{x}.shape[0]" + (f" * {pixels}" if channel else "")
        shape = f".reshape({layer.input_shape[0]})" if channel else ""
        lines += _statistics(x, k, axes)
        lines += [
            f"if running is not None:  # running averages for inference, momentum {MOMENTUM!r}",
            f"    count{k} = {count}",
            f'    mean_run{k} = running.setdefault("mean{k}", numpy.zeros({layer.input_shape[0]}))',
            f"    mean_run{k} *= {1 - MOMENTUM!r}",
            f"    mean_run{k} += {MOMENTUM!r} * mu{k}{shape}",
            f'    var_run{k} = running.setdefault("var{k}", numpy.ones({layer.input_shape[0]}))',
            f"    var_run{k} *= {1 - MOMENTUM!r}",
            "    # the running variance is unbiased (N / (N - 1)), as PyTorch's",
            f"    var_run{k} += {MOMENTUM!r} * var{k}{shape} * (count{k} / max(count{k} - 1, 1))",
        ]
    else:
        view = "[:, None, None]" if channel else ""
        lines += [
            "if running is not None:  # inference: the running averages of training",
            f'    mu{k} = running["mean{k}"]{view}',
            f'    var{k} = running["var{k}"]{view}',
            "else:",
            *("    " + line for line in _statistics(x, k, axes)),
        ]
    return [
        *lines,
        f"inv{k} = 1.0 / numpy.sqrt(var{k} + {EPSILON!r})",
        f"xhat{k} = ({x} - mu{k}) * inv{k}",
        f"a{k} = {gamma}{channel} * xhat{k} + {beta}{channel}",
    ]


def backward_lines(layer: Layer, k: int, needs_input_gradient: bool) -> list[str]:
    r"""Fill ``dgamma{i}``, ``dbeta{i}`` and, when needed, ``g{k-1}`` (the compact form).

    Valid after the training forward (batch statistics), which is where gradients are taken.

    Args:
        layer: A ``batchnorm`` layer.
        k: Its position in the stack; ``g{k}`` is given.
        needs_input_gradient: Also compute ``g{k-1}``.

    Returns:
        Unindented lines.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer = architecture("dense(3),batchnorm,dense(2)", (4,)).layers[1]
        >>> print("\n".join(backward_lines(layer, 2, needs_input_gradient=True)))
        # batchnorm backward: dbeta2 = sum g, dgamma2 = sum g xhat,
        # da = gamma2 / (N sqrt(var + eps)) (N g - sum g - xhat sum g xhat), N = m
        dbeta2[...] = g2.sum(axis=0)
        dgamma2[...] = (g2 * xhat2).sum(axis=0)
        count2 = g2.shape[0]
        g1 = (gamma2 * inv2 / count2) * (count2 * g2 - dbeta2 - xhat2 * dgamma2)
    """
    gamma, beta, axes, channel, pixels = _shape(layer)
    sums = "(0, 2, 3)" if channel else "0"
    lines = [
        f"# {layer.text} backward: d{beta} = sum g, d{gamma} = sum g xhat,",
        f"# da = {gamma} / (N sqrt(var + eps)) (N g - sum g - xhat sum g xhat), "
        f"N = {'m * ' + str(pixels) if channel else 'm'}",
        f"d{beta}[...] = g{k}.sum(axis={sums})",
        f"d{gamma}[...] = (g{k} * xhat{k}).sum(axis={sums})",
    ]
    if needs_input_gradient:
        count = f"g{k}.shape[0]" + (f" * {pixels}" if channel else "")
        lines += [
            f"count{k} = {count}",
            f"g{k - 1} = ({gamma}{channel} * inv{k} / count{k}) * (count{k} * g{k} - "
            f"d{beta}{channel} - xhat{k} * d{gamma}{channel})",
        ]
    return lines
