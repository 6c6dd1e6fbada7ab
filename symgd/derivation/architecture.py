r"""Stage 2, derive: the backward rule of every layer of a layered architecture, checked.

Example:
    >>> from symgd.define.architecture import architecture
    >>> derivation = derive_architecture(architecture("dense(3),tanh,dense(1)", (2,), loss="mse"))
    >>> [rule.kind for _, rule in derivation.layers]
    ['dense', 'activation-tanh', 'dense']
    >>> derivation.output_error.delta
    a - y
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from symgd.define.architecture import Architecture, Layer
from symgd.derivation.layer_check import LayerRule, RuleCheck, verify_rule
from symgd.derivation.layer_rules import (
    activation_rule,
    convolution_rule,
    dense_rule,
    flatten_rule,
)
from symgd.derivation.lstm import lstm_rule
from symgd.derivation.normalization import batchnorm_rule
from symgd.derivation.output_error import OutputError, output_error
from symgd.derivation.pooling import pooling_rule
from symgd.derivation.recurrent import rnn_rule


@dataclass(frozen=True)
class ArchitectureDerivation:
    r"""Every layer's backward rule and the output error :math:`\delta^{(L)}` of the loss.

    Attributes:
        architecture: What was derived.
        layers: ``(layer, rule)`` for each layer, input first.
        output_error: :math:`\delta^{(L)} = \partial\ell/\partial z^{(L)}` of the loss on the
            last layer's output.
        checks: The check of each rule kind that appears (every displayed equality).
    """

    architecture: Architecture
    layers: tuple[tuple[Layer, LayerRule], ...]
    output_error: OutputError
    checks: tuple[RuleCheck, ...]

    def __repr__(self) -> str:
        passed = sum(check.comparisons for check in self.checks)
        return (
            f"ArchitectureDerivation({self.architecture.text}: {len(self.layers)} layers, "
            f"{passed} equalities checked)"
        )


def layer_rule(layer: Layer) -> LayerRule:
    """The backward rule of one layer.

    Example:
        >>> from symgd.define.architecture import architecture
        >>> layer_rule(architecture("conv(2,3,same),flatten,dense(1)", (1, 4, 4)).layers[0]).kind
        'conv-same'
    """
    if layer.kind == "conv":
        return convolution_rule(layer.padding)
    if layer.kind in ("maxpool", "avgpool"):
        return pooling_rule(layer.kind)
    if layer.kind == "activation":
        return activation_rule(layer.activation)
    rules = {
        "flatten": flatten_rule,
        "dense": dense_rule,
        "batchnorm": batchnorm_rule,
        "rnn": rnn_rule,
        "lstm": lstm_rule,
    }
    return rules[layer.kind]()


@functools.cache
def _checked(rule: LayerRule) -> RuleCheck:
    return verify_rule(rule)


def derive_architecture(arch: Architecture, *, check: bool = True) -> ArchitectureDerivation:
    """Derive every layer's backward rule and check each rule kind once at small sizes.

    Args:
        arch: From :func:`symgd.define.architecture.architecture`.
        check: Check every displayed equality of each rule kind (cached per kind).

    Returns:
        The :class:`ArchitectureDerivation`.

    Raises:
        ArithmeticError: A rule's displayed equality fails its check (a bug in symgd).
    """
    layers = tuple((layer, layer_rule(layer)) for layer in arch.layers)
    checks = []
    if check:
        for rule in dict.fromkeys(rule for _, rule in layers):
            result = _checked(rule)
            if not result.passed:
                raise ArithmeticError(f"the {rule.kind} rule fails its check: {result.failures[0]}")
            checks.append(result)
    return ArchitectureDerivation(arch, layers, output_error(arch.loss), tuple(checks))
