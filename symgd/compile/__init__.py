"""Stage 4, compile: NumPy code generation with stable rewrites, for objectives and networks."""

from symgd.compile.loader import load_source as load_source
from symgd.compile.network import (
    CompiledNetwork as CompiledNetwork,
    compile_network as compile_network,
    one_hot as one_hot,
)
from symgd.compile.numeric import (
    HEAVISIDE_AT_ZERO as HEAVISIDE_AT_ZERO,
    NUMERIC_HELPERS as NUMERIC_HELPERS,
    piecewise as piecewise,
    stable_log_softmax as stable_log_softmax,
    stable_logsumexp as stable_logsumexp,
    stable_sech as stable_sech,
    stable_sigmoid as stable_sigmoid,
    stable_sigmoid_derivative as stable_sigmoid_derivative,
    stable_softplus_sigmoid as stable_softplus_sigmoid,
)
from symgd.compile.rewrites import (
    REWRITES as REWRITES,
    Rewrite as Rewrite,
    log_softmax as log_softmax,
    logsumexp as logsumexp,
    stabilize as stabilize,
)
from symgd.compile.scalar import (
    Compiled as Compiled,
    CompiledExpression as CompiledExpression,
    compile_expression as compile_expression,
    compile_objective as compile_objective,
)
from symgd.compile.tensors import (
    CompiledTensor as CompiledTensor,
    compile_tensor as compile_tensor,
)

__all__ = [
    "load_source",
    "CompiledNetwork",
    "compile_network",
    "one_hot",
    "HEAVISIDE_AT_ZERO",
    "NUMERIC_HELPERS",
    "piecewise",
    "stable_log_softmax",
    "stable_logsumexp",
    "stable_sech",
    "stable_sigmoid",
    "stable_sigmoid_derivative",
    "stable_softplus_sigmoid",
    "REWRITES",
    "Rewrite",
    "log_softmax",
    "logsumexp",
    "stabilize",
    "Compiled",
    "CompiledExpression",
    "compile_expression",
    "compile_objective",
    "CompiledTensor",
    "compile_tensor",
]
