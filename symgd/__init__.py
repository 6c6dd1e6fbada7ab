"""symgd: symbolic calculus for gradient-based learning.

The pipeline, one module per stage::

    define (model)  ->  derive  ->  render  ->  compile  ->  train  ->  verify

Example:
    >>> import symgd
    >>> derivation = symgd.derive(symgd.linear_regression())
    >>> derivation.gradient
    {w: x*(b + w*x - y), b: b + w*x - y}
"""

from symgd.compile import Compiled, compile_objective
from symgd.derive import ChainStep, Derivation, derive
from symgd.functions import sigmoid, softplus
from symgd.model import Objective, linear_regression, logistic_regression, objective
from symgd.parse import ParseError, parse_expression
from symgd.render import to_document, to_latex, to_markdown, to_text
from symgd.train import TrainResult, gradient_descent, linear_data, train
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
    "check_gradient",
    "compile_objective",
    "derive",
    "gradient_descent",
    "linear_data",
    "linear_regression",
    "logistic_regression",
    "objective",
    "parse_expression",
    "sigmoid",
    "softplus",
    "to_document",
    "to_latex",
    "to_markdown",
    "to_text",
    "train",
]

__version__ = "0.1.0"
