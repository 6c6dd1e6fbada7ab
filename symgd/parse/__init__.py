"""The only entry for user text: expressions in SymPy syntax and LaTeX, parsed safely."""

from symgd.parse.expressions import (
    FUNCTIONS as FUNCTIONS,
    RESERVED_NAMES as RESERVED_NAMES,
    ParseError as ParseError,
    parse_assignments as parse_assignments,
    parse_definition as parse_definition,
    parse_expression as parse_expression,
    parse_name as parse_name,
    parse_names as parse_names,
    symbol as symbol,
)
from symgd.parse.latex import (
    EXAMPLE_INDEX as EXAMPLE_INDEX,
    latex_translation as latex_translation,
    parse_latex as parse_latex,
    parse_with_sums as parse_with_sums,
)

__all__ = [
    "FUNCTIONS",
    "RESERVED_NAMES",
    "ParseError",
    "parse_assignments",
    "parse_definition",
    "parse_expression",
    "parse_name",
    "parse_names",
    "symbol",
    "EXAMPLE_INDEX",
    "parse_latex",
    "parse_with_sums",
    "latex_translation",
]
