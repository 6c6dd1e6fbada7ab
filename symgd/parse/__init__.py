"""The only entry for user text: expressions in SymPy syntax and LaTeX, parsed safely."""

from symgd.parse.budgets import parse_tree as parse_tree
from symgd.parse.builder import ExpressionBuilder as ExpressionBuilder
from symgd.parse.declarations import (
    parse_declarations as parse_declarations,
    split_outside as split_outside,
)
from symgd.parse.errors import ParseError as ParseError, excerpt as excerpt
from symgd.parse.expressions import (
    build_text as build_text,
    parse_definition as parse_definition,
    parse_expression as parse_expression,
)
from symgd.parse.latex import (
    latex_translation as latex_translation,
    parse_latex as parse_latex,
)
from symgd.parse.latex_tensors import latex_tensor_translation as latex_tensor_translation
from symgd.parse.names import (
    FUNCTIONS as FUNCTIONS,
    RESERVED_NAMES as RESERVED_NAMES,
    parse_assignments as parse_assignments,
    parse_name as parse_name,
    parse_names as parse_names,
    symbol as symbol,
)
from symgd.parse.sums import (
    EXAMPLE_INDEX as EXAMPLE_INDEX,
    parse_with_sums as parse_with_sums,
)

__all__ = [
    "build_text",
    "ExpressionBuilder",
    "parse_tree",
    "parse_declarations",
    "split_outside",
    "excerpt",
    "ParseError",
    "parse_definition",
    "parse_expression",
    "latex_translation",
    "parse_latex",
    "latex_tensor_translation",
    "FUNCTIONS",
    "RESERVED_NAMES",
    "parse_assignments",
    "parse_name",
    "parse_names",
    "symbol",
    "EXAMPLE_INDEX",
    "parse_with_sums",
]
