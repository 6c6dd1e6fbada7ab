"""Stage 3, render: one printer family for LaTeX, Markdown and text; documents; plots."""

from symgd.render.architecture import (
    architecture_document as architecture_document,
    architecture_latex as architecture_latex,
    architecture_markdown as architecture_markdown,
    architecture_text as architecture_text,
)
from symgd.render.matrix_document import (
    matrix_document as matrix_document,
    matrix_latex as matrix_latex,
    matrix_markdown as matrix_markdown,
    matrix_text as matrix_text,
)
from symgd.render.network import (
    network_document as network_document,
    network_latex as network_latex,
    network_markdown as network_markdown,
    network_text as network_text,
)
from symgd.render.network_equations import (
    ShownEquation as ShownEquation,
    Side as Side,
    dense_rules_latex as dense_rules_latex,
    network_equations as network_equations,
    weight_chain_lines as weight_chain_lines,
)
from symgd.render.plots import (
    DPI as DPI,
    FIGURE_SIZE as FIGURE_SIZE,
    descent_paths as descent_paths,
    learning_rate_comparison as learning_rate_comparison,
    loss_curves as loss_curves,
)
from symgd.render.printing import (
    descent_step_latex as descent_step_latex,
    document as document,
    latex as latex,
    partial as partial,
    text as text,
    to_document as to_document,
    to_latex as to_latex,
    to_markdown as to_markdown,
    to_text as to_text,
)

__all__ = [
    "architecture_document",
    "architecture_latex",
    "architecture_markdown",
    "architecture_text",
    "ShownEquation",
    "Side",
    "network_equations",
    "latex",
    "text",
    "partial",
    "to_latex",
    "to_markdown",
    "to_document",
    "to_text",
    "descent_step_latex",
    "document",
    "dense_rules_latex",
    "weight_chain_lines",
    "network_latex",
    "network_markdown",
    "network_document",
    "network_text",
    "matrix_latex",
    "matrix_markdown",
    "matrix_document",
    "matrix_text",
    "DPI",
    "FIGURE_SIZE",
    "descent_paths",
    "learning_rate_comparison",
    "loss_curves",
]
