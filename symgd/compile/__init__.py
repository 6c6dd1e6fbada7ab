"""Stage 4, compile: NumPy code generation with stable rewrites, for objectives and networks."""

from symgd.compile.network import (
    CompiledNetwork as CompiledNetwork,
    compile_network as compile_network,
    one_hot as one_hot,
)
from symgd.compile.scalar import (
    Compiled as Compiled,
    CompiledExpression as CompiledExpression,
    compile_expression as compile_expression,
    compile_objective as compile_objective,
)
from symgd.compile.stable import (
    HEAVISIDE_AT_ZERO as HEAVISIDE_AT_ZERO,
    NUMERIC_HELPERS as NUMERIC_HELPERS,
    REWRITES as REWRITES,
    Rewrite as Rewrite,
    log_softmax as log_softmax,
    logsumexp as logsumexp,
    piecewise as piecewise,
    stabilize as stabilize,
    stable_log_softmax as stable_log_softmax,
    stable_logsumexp as stable_logsumexp,
    stable_sech as stable_sech,
    stable_sigmoid as stable_sigmoid,
    stable_sigmoid_derivative as stable_sigmoid_derivative,
    stable_softplus_sigmoid as stable_softplus_sigmoid,
)

__all__ = [
    "Rewrite",
    "REWRITES",
    "stabilize",
    "logsumexp",
    "log_softmax",
    "stable_sigmoid",
    "stable_softplus_sigmoid",
    "stable_sigmoid_derivative",
    "stable_sech",
    "stable_logsumexp",
    "stable_log_softmax",
    "piecewise",
    "NUMERIC_HELPERS",
    "HEAVISIDE_AT_ZERO",
    "Compiled",
    "CompiledExpression",
    "compile_objective",
    "compile_expression",
    "CompiledNetwork",
    "compile_network",
    "one_hot",
]
