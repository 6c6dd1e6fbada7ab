"""Stage 6, verify: finite-difference gradient checks and verdicts on hand-computed answers."""

from symgd.verify.answers import (
    check_answer as check_answer,
    check_answers as check_answers,
)
from symgd.verify.function_answers import split_function as split_function
from symgd.verify.gradcheck import (
    MODE_TOLERANCES as MODE_TOLERANCES,
    TOLERANCES as TOLERANCES,
    GradientCheck as GradientCheck,
    ParameterCheck as ParameterCheck,
    central_difference as central_difference,
    check_gradient as check_gradient,
    complex_step as complex_step,
    richardson as richardson,
)
from symgd.verify.grading import check_class as check_class
from symgd.verify.reading import read_answer as read_answer
from symgd.verify.report import (
    AnswerCheck as AnswerCheck,
    AnswerReport as AnswerReport,
    ClassReport as ClassReport,
    Counterexample as Counterexample,
    Grade as Grade,
    Hint as Hint,
    side_by_side as side_by_side,
)
from symgd.verify.tensor_answers import (
    check_tensor_answer as check_tensor_answer,
    check_tensor_answers as check_tensor_answers,
    read_tensor_answer as read_tensor_answer,
)
from symgd.verify.tensor_report import (
    TensorAnswerCheck as TensorAnswerCheck,
    TensorAnswerReport as TensorAnswerReport,
    TensorCounterexample as TensorCounterexample,
)

__all__ = [
    "check_answer",
    "check_answers",
    "check_class",
    "split_function",
    "MODE_TOLERANCES",
    "TOLERANCES",
    "GradientCheck",
    "ParameterCheck",
    "central_difference",
    "check_gradient",
    "complex_step",
    "richardson",
    "read_answer",
    "AnswerCheck",
    "AnswerReport",
    "ClassReport",
    "Counterexample",
    "Grade",
    "Hint",
    "side_by_side",
    "check_tensor_answer",
    "check_tensor_answers",
    "read_tensor_answer",
    "TensorAnswerCheck",
    "TensorAnswerReport",
    "TensorCounterexample",
]
