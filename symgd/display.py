"""How a result object shows itself in Jupyter, without an earlier stage importing a later one.

Results are made by one stage (a :class:`~symgd.derivation.scalar.Derivation` in derive) and typeset
by a later one (render). Each result's ``_repr_latex_`` calls :func:`display_latex`; the render
stage registers the printer for its result types (``@display_latex.register``), so imports
point forwards only.

Example:
    >>> display_latex(object()) is None
    True
"""

from __future__ import annotations

import functools

__all__ = ["display_latex"]


@functools.singledispatch
def display_latex(result: object) -> str | None:
    """The result as Jupyter display math (``$$…$$``), or ``None`` with no printer registered.

    A registered printer returns the LaTeX body (an ``aligned`` block); this adds the ``$$``.
    """
    return None
