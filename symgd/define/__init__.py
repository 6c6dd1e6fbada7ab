"""Stage 1, define: objectives, activations, losses and networks."""

from symgd.define.activations import (
    ACTIVATIONS as ACTIVATIONS,
    OUTPUT as OUTPUT,
    PREACTIVATION as PREACTIVATION,
    Activation as Activation,
    activation as activation,
)
from symgd.define.architecture import (
    Architecture as Architecture,
    Layer as Layer,
    architecture as architecture,
    parse_shape as parse_shape,
)
from symgd.define.losses import (
    LOSSES as LOSSES,
    PROBABILITY as PROBABILITY,
    TARGET as TARGET,
    Loss as Loss,
    loss as loss,
)
from symgd.define.network import (
    Network as Network,
    network as network,
    parse_layers as parse_layers,
)
from symgd.define.objective import (
    Objective as Objective,
    linear_regression as linear_regression,
    logistic_regression as logistic_regression,
    objective as objective,
    resolve_definitions as resolve_definitions,
)
from symgd.define.tensor_text import (
    ARRAY_FUNCTIONS as ARRAY_FUNCTIONS,
    tensor_expression as tensor_expression,
    tensor_objective as tensor_objective,
)
from symgd.define.tensors import (
    Operation as Operation,
    Shape as Shape,
    TensorGraph as TensorGraph,
    TensorObjective as TensorObjective,
    shape_text as shape_text,
)

__all__ = [
    "Architecture",
    "Layer",
    "architecture",
    "parse_shape",
    "Objective",
    "objective",
    "linear_regression",
    "logistic_regression",
    "resolve_definitions",
    "Activation",
    "ACTIVATIONS",
    "activation",
    "PREACTIVATION",
    "OUTPUT",
    "Loss",
    "LOSSES",
    "loss",
    "TARGET",
    "PROBABILITY",
    "Network",
    "network",
    "parse_layers",
    "ARRAY_FUNCTIONS",
    "tensor_objective",
    "tensor_expression",
    "Operation",
    "Shape",
    "TensorGraph",
    "TensorObjective",
    "shape_text",
]
