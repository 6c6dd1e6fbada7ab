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
)
from symgd.data import digits_dataset as digits_dataset, linear_data as linear_data
from symgd.define import (
    Objective as Objective,
    linear_regression as linear_regression,
    logistic_regression as logistic_regression,
    network as network,
    objective as objective,
)
from symgd.derivation import (
    ChainStep as ChainStep,
    Derivation as Derivation,
    derive as derive,
    derive_network as derive_network,
)
from symgd.functions import sigmoid as sigmoid, softplus as softplus
from symgd.parse import ParseError as ParseError, parse_expression as parse_expression
from symgd.render import (
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
)
from symgd.verify import (
    GradientCheck as GradientCheck,
    ParameterCheck as ParameterCheck,
    check_answer as check_answer,
    check_answers as check_answers,
    check_gradient as check_gradient,
)

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
