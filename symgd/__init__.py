"""symgd: symbolic calculus for gradient-based learning.

The pipeline, one package per stage::

    parse -> define -> derive -> render -> compile -> train -> verify      (notes, cli on top)

Example:
    >>> import symgd
    >>> derivation = symgd.derive(symgd.linear_regression())
    >>> derivation.gradient
    {w: x*(b + w*x - y), b: b + w*x - y}
"""

from symgd.compile import (
    Compiled as Compiled,
    compile_expression as compile_expression,
    compile_network as compile_network,
    compile_objective as compile_objective,
    compile_tensor as compile_tensor,
)
from symgd.data import digits_dataset as digits_dataset, linear_data as linear_data
from symgd.define import (
    Objective as Objective,
    linear_regression as linear_regression,
    logistic_regression as logistic_regression,
    network as network,
    objective as objective,
    tensor_objective as tensor_objective,
)
from symgd.derivation import (
    ChainStep as ChainStep,
    Derivation as Derivation,
    check_expanded_gradient as check_expanded_gradient,
    derive as derive,
    derive_hessian as derive_hessian,
    derive_network as derive_network,
    derive_tensor as derive_tensor,
)
from symgd.functions import sigmoid as sigmoid, softplus as softplus
from symgd.parse import ParseError as ParseError, parse_expression as parse_expression
from symgd.render import (
    matrix_document as matrix_document,
    matrix_latex as matrix_latex,
    matrix_markdown as matrix_markdown,
    matrix_text as matrix_text,
    to_document as to_document,
    to_latex as to_latex,
    to_markdown as to_markdown,
    to_text as to_text,
)
from symgd.training import (
    TrainResult as TrainResult,
    gradient_descent as gradient_descent,
    train as train,
    train_network as train_network,
    train_tensor as train_tensor,
)
from symgd.verify import (
    GradientCheck as GradientCheck,
    ParameterCheck as ParameterCheck,
    check_answer as check_answer,
    check_answers as check_answers,
    check_gradient as check_gradient,
)

__all__ = [
    "compile_tensor",
    "tensor_objective",
    "derive_hessian",
    "derive_tensor",
    "check_expanded_gradient",
    "matrix_document",
    "matrix_latex",
    "matrix_markdown",
    "matrix_text",
    "train_tensor",
    "ChainStep",
    "Compiled",
    "Derivation",
    "GradientCheck",
    "Objective",
    "ParameterCheck",
    "ParseError",
    "TrainResult",
    "check_answer",
    "check_answers",
    "check_gradient",
    "compile_expression",
    "compile_network",
    "compile_objective",
    "derive",
    "derive_network",
    "digits_dataset",
    "gradient_descent",
    "linear_data",
    "linear_regression",
    "logistic_regression",
    "network",
    "objective",
    "parse_expression",
    "sigmoid",
    "softplus",
    "to_document",
    "to_latex",
    "to_markdown",
    "to_text",
    "train",
    "train_network",
]

__version__ = "0.1.0"
