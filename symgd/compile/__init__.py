"""Stage 4, compile: NumPy code generation with stable rewrites, for objectives and networks."""

from symgd.compile.architecture import (
    CompiledArchitecture as CompiledArchitecture,
    compile_architecture as compile_architecture,
)
from symgd.compile.jax_backend import (
    INSTALL_JAX as INSTALL_JAX,
    JaxPrinter as JaxPrinter,
    MissingBackend as MissingBackend,
    export_jax as export_jax,
    load_jax as load_jax,
    network_source_jax as network_source_jax,
    objective_source_jax as objective_source_jax,
    require_jax as require_jax,
)
from symgd.compile.loader import load_source as load_source
from symgd.compile.network import (
    CompiledNetwork as CompiledNetwork,
    JaxCompiledNetwork as JaxCompiledNetwork,
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
    JaxCompiled as JaxCompiled,
    compile_expression as compile_expression,
    compile_objective as compile_objective,
)
from symgd.compile.tensors import (
    CompiledTensor as CompiledTensor,
    compile_tensor as compile_tensor,
)

__all__ = [
    "CompiledArchitecture",
    "compile_architecture",
    "INSTALL_JAX",
    "JaxPrinter",
    "MissingBackend",
    "export_jax",
    "load_jax",
    "network_source_jax",
    "objective_source_jax",
    "require_jax",
    "load_source",
    "CompiledNetwork",
    "JaxCompiledNetwork",
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
    "JaxCompiled",
    "compile_expression",
    "compile_objective",
    "CompiledTensor",
    "compile_tensor",
]
