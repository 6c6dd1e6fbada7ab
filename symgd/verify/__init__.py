"""Stage 6, verify: finite-difference gradient checks and verdicts on hand-computed answers."""

from symgd.verify.answers import (
    AnswerCheck as AnswerCheck,
    AnswerReport as AnswerReport,
    Counterexample as Counterexample,
    Hint as Hint,
    check_answer as check_answer,
    check_answers as check_answers,
    read_answer as read_answer,
    side_by_side as side_by_side,
)
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

__all__ = [
    "ParameterCheck",
    "GradientCheck",
    "TOLERANCES",
    "MODE_TOLERANCES",
    "central_difference",
    "check_gradient",
    "complex_step",
    "richardson",
    "AnswerCheck",
    "AnswerReport",
    "Counterexample",
    "Hint",
    "check_answer",
    "check_answers",
    "read_answer",
    "side_by_side",
]
