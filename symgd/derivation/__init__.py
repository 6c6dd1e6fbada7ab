"""Stage 2, derive: the chain rule for scalar objectives, output errors, network backprop."""

from symgd.derivation.architecture import (
    ArchitectureDerivation as ArchitectureDerivation,
    derive_architecture as derive_architecture,
    layer_rule as layer_rule,
)
from symgd.derivation.expanded import (
    ScalarNetwork as ScalarNetwork,
    WeightChain as WeightChain,
    expand_network as expand_network,
    scalar_network as scalar_network,
)
from symgd.derivation.expansion import (
    ExpansionCheck as ExpansionCheck,
    check_expanded_gradient as check_expanded_gradient,
    check_expanded_hessian as check_expanded_hessian,
)
from symgd.derivation.hessian import Hessian as Hessian, derive_hessian as derive_hessian
from symgd.derivation.layer_check import (
    Chain as Chain,
    LayerRule as LayerRule,
    RuleCheck as RuleCheck,
    verify_rule as verify_rule,
)
from symgd.derivation.matrix import (
    MatrixDerivation as MatrixDerivation,
    MatrixStep as MatrixStep,
    derive_tensor as derive_tensor,
)
from symgd.derivation.network import (
    EXPANDED_LIMIT as EXPANDED_LIMIT,
    DenseRule as DenseRule,
    DenseRules as DenseRules,
    NetworkDerivation as NetworkDerivation,
    dense_rules as dense_rules,
    derive_network as derive_network,
    layer_rule_gradient as layer_rule_gradient,
)
from symgd.derivation.output_error import (
    OutputError as OutputError,
    output_error as output_error,
)
from symgd.derivation.scalar import (
    LOSS_SYMBOL as LOSS_SYMBOL,
    ChainStep as ChainStep,
    Derivation as Derivation,
    chain_rule as chain_rule,
    derive as derive,
    is_zero as is_zero,
    lecturer_form as lecturer_form,
)

__all__ = [
    "ArchitectureDerivation",
    "derive_architecture",
    "layer_rule",
    "LayerRule",
    "Chain",
    "RuleCheck",
    "verify_rule",
    "ChainStep",
    "Derivation",
    "derive",
    "chain_rule",
    "lecturer_form",
    "is_zero",
    "LOSS_SYMBOL",
    "OutputError",
    "output_error",
    "DenseRule",
    "DenseRules",
    "dense_rules",
    "WeightChain",
    "NetworkDerivation",
    "derive_network",
    "ScalarNetwork",
    "scalar_network",
    "expand_network",
    "layer_rule_gradient",
    "EXPANDED_LIMIT",
    "MatrixDerivation",
    "MatrixStep",
    "derive_tensor",
    "Hessian",
    "derive_hessian",
    "ExpansionCheck",
    "check_expanded_gradient",
    "check_expanded_hessian",
]
