"""symgd: symbolic calculus for gradient-based learning.

The pipeline, one module per stage::

    define (model)  ->  derive  ->  render  ->  compile  ->  train  ->  verify

Example:
    >>> import symgd
    >>> derivation = symgd.derive(symgd.linear_regression())
    >>> derivation.gradient
    {w: x*(b + w*x - y), b: b + w*x - y}
"""

from symgd.compile import Compiled, compile_expression, compile_objective
from symgd.datasets import digits_dataset
from symgd.derive import ChainStep, Derivation, derive
from symgd.functions import sigmoid, softplus
from symgd.model import Objective, linear_regression, logistic_regression, objective
from symgd.network import derive_network, network
from symgd.network_compile import compile_network
from symgd.parse import ParseError, parse_expression
from symgd.render import to_document, to_latex, to_markdown, to_text
from symgd.train import TrainResult, gradient_descent, linear_data, train, train_network
from symgd.verify import GradientCheck, ParameterCheck, check_gradient

__all__ = [
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
