r"""LaTeX answers for vector and matrix objectives, translated into symgd's NumPy notation.

The LaTeX subset of :mod:`symgd.parse.latex` (its tokenizer and translator, reused) plus the
matrix notation: :math:`X^\top` (``X^\top``, ``X^T``, ``X^{\top}``, ``\intercal``), bold arrays
(``\mathbf{X}``, ``\boldsymbol{w}``, ``\bm{w}``, ``\vec{w}``), :math:`\odot` (element-wise),
:math:`A^{-1}`, :math:`\|v\|`, :math:`\mathbf{1}^\top v` (a sum), :math:`M\mathbf{1}` (row
sums), ``\operatorname{tr}``, ``\det``, ``\operatorname{diag}``. Juxtaposition, ``\cdot`` and
``\times`` between two arrays are the matrix product ``@``; with a scalar on either side they
are ``*``. Which names are arrays comes from their ranks (0 scalar, 1 vector, 2 matrix); the
rank of a translated factor is read off its ``ast`` (nothing is evaluated). The result is text
for :func:`symgd.define.tensor_expression`, the safe parser, which checks every shape.

Example:
    >>> ranks = {"X": 2, "w": 1, "b": 0, "y": 1, "m": 0, "d": 0}
    >>> latex_tensor_translation(r"\frac{1}{m} X^\top(\sigma(Xw + b) - y)", ranks=ranks)
    '((1)/(m))*(X).T@(sigmoid((X@w + b)) - y)'
    >>> latex_tensor_translation(r"\mathbf{1}^{\top} (y \odot w)", ranks=ranks)
    'sum((y*w))'
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from symgd.parse.budgets import parse_tree
from symgd.parse.errors import ParseError, excerpt
from symgd.parse.latex import _Translator, prepared_latex
from symgd.parse.latex_tokens import PRODUCT_COMMANDS, SUGGESTION as _SCALAR_SUGGESTION

SUGGESTION = r"write the answer in NumPy notation instead, e.g. 'X.T @ (sigmoid(X@w + b) - y)/m'"
"""The fix every rejection of a matrix LaTeX answer suggests."""

#: Commands that only make a symbol bold: ``\mathbf{X}`` is ``X``.
BOLD_COMMANDS = ("mathbf", "boldsymbol", "bm", "vec", "mathbfit", "pmb")
#: Element-wise products.
ELEMENTWISE_COMMANDS = ("odot", "circ")
#: ``\operatorname{NAME}`` (or ``\mathrm``, ``\text``) of an array function → its symgd name.
ARRAY_NAMES = {
    "tr": "trace",
    "Tr": "trace",
    "trace": "trace",
    "diag": "diag",
    "det": "det",
    "sum": "sum",
    "mean": "mean",
    "logsumexp": "logsumexp",
    "softmax": "softmax",
}
_TRANSPOSES = (("command", "top"), ("command", "intercal"), ("command", "mathsf"))
_NORM_OPEN = {"|": "|", "lVert": "rVert", "Vert": "Vert"}
_NORM_CLOSE = (("command", "|"), ("command", "rVert"), ("command", "Vert"))
# Stand-ins for the ones vector while a product is read; they never reach the result.
_ONES, _ONES_T = "\0ones", "\0ones.T"
_ONES_MESSAGE = (
    r"\mathbf{1} (the ones vector) is read only in \mathbf{1}^\top v (the sum of v) and "
    r"M\mathbf{1} (the row sums of M)"
)


class _TensorTranslator(_Translator):
    """:class:`symgd.parse.latex._Translator` with transposes, ``@`` and array functions."""

    def __init__(self, text: str, ranks: Mapping[str, int]) -> None:
        super().__init__(text, frozenset(ranks))
        self.ranks = dict(ranks)

    def fail(self, what: str) -> ParseError:
        return ParseError(f"{what} in LaTeX {excerpt(self.text)}; {SUGGESTION}")

    def rank(self, text: str) -> int:
        if "\0" in text:
            raise self.fail(_ONES_MESSAGE)
        return _rank(parse_tree(text).body, self.ranks)

    def product(self) -> str:
        if self.at("sum", kind="command"):
            return self.sum()
        factors = [self.power()]
        while True:
            token = self.peek()
            if token is None or token in (("symbol", "+"), ("symbol", "-")):
                break
            if (token[0] == "symbol" and token[1] in ")]}=|") or token in _NORM_CLOSE:
                break
            operator = None  # juxtaposition: '@' between arrays, '*' otherwise
            if token == ("symbol", "*") or (
                token[0] == "command" and token[1] in ELEMENTWISE_COMMANDS
            ):
                self.take()
                operator = "*"
            elif token[0] == "command" and token[1] in PRODUCT_COMMANDS:
                self.take()
            elif token == ("symbol", "/"):
                self.take()
                factors += ["/", self.power()]
                continue
            elif token == ("command", "sum"):
                raise self.fail(r"a sum \sum (write the answer in matrix form)")
            factors = self.joined(factors, operator, self.power())
        text = "".join(factors)
        if "\0" in text:
            raise self.fail(_ONES_MESSAGE)
        return text

    def joined(self, factors: list[str], operator: str | None, right: str) -> list[str]:
        """``factors`` (read left to right, as Python does) times ``right``."""
        if factors[-1] == _ONES_T:  # 1ᵀ v is the sum of v; 1ᵀ M the column sums of M
            axis = ", axis=0" if self.rank(right) == 2 else ""
            return [*factors[:-1], f"sum({right}{axis})"]
        left = "".join(factors)
        if right == _ONES:  # M 1 is the row sums of M
            axis = ", axis=1" if self.rank(left) == 2 else ""
            return [f"sum({left}{axis})"]
        if right == _ONES_T:
            return [*factors, operator or "*", right]
        if operator is None:
            operator = "@" if self.rank(left) and self.rank(right) else "*"
        return [*factors, operator, right]

    def sum(self) -> str:
        raise self.fail(r"a sum \sum (write the answer in matrix form, e.g. X^\top r)")

    def postfix(self) -> str:
        atom = super().postfix()
        while self.at("^"):
            if self.superscript(_TRANSPOSES) or (
                "T" not in self.known and self.superscript((("letter", "T"),))
            ):
                atom = _ONES_T if atom == _ONES else f"({atom}).T"
            elif atom != _ONES and self.inverse(atom):
                atom = f"inv({atom})"
            else:
                break
        return atom

    def superscript(self, tokens: tuple[tuple[str, str], ...]) -> bool:
        """Take ``^t`` or ``^{t}`` (``t`` one of ``tokens``, ``\\mathsf{T}`` too) if it is next."""
        ahead = [self.peek(k) for k in range(1, 9)]
        for braced in (False, True):
            start = 1 if braced else 0
            if braced and ahead[0] != ("symbol", "{"):
                continue
            token = ahead[start]
            if token not in tokens:
                continue
            length = start + 1
            if token == ("command", "mathsf"):
                if ahead[start + 1 : start + 4] != [
                    ("symbol", "{"),
                    ("letter", "T"),
                    ("symbol", "}"),
                ]:
                    continue
                length += 3
            if braced:
                if ahead[length] != ("symbol", "}"):
                    continue
                length += 1
            self.position += length + 1
            return True
        return False

    def inverse(self, atom: str) -> bool:
        """Take ``^{-1}`` after a matrix."""
        ahead = [self.peek(k) for k in range(1, 5)]
        if ahead != [("symbol", "{"), ("symbol", "-"), ("number", "1"), ("symbol", "}")]:
            return False
        if self.rank(atom) != 2:
            return False
        self.position += 5
        return True

    def command(self, name: str) -> str:
        if name in BOLD_COMMANDS:
            inner = self.braced()
            if inner == "1":
                return _ONES
            return inner if inner.isidentifier() else f"({inner})"
        if name in _NORM_OPEN:
            inner = self.expression()
            closing = self.take()
            if closing != ("command", _NORM_OPEN[name]):
                raise self.fail(f"\\{name} without its closing \\{_NORM_OPEN[name]}")
            if self.at("_") and self.peek(1) in (("letter", "F"), ("symbol", "{")):
                self.take()
                if self.subscript() not in ("F", "2"):
                    raise self.fail("a norm other than the 2-norm or Frobenius norm")
            return f"norm({inner})"
        if name == "det":
            return f"det({self.call_argument()})"
        if name in ("operatorname", "mathrm", "text", "textrm", "mathit"):
            start = self.position
            word = self.group_text("name") if self.at("{") else ""
            if word in ARRAY_NAMES:
                return f"{ARRAY_NAMES[word]}({self.call_argument()})"
            self.position = start
        try:
            return super().command(name)
        except ParseError as error:  # the scalar reader suggests SymPy syntax; here NumPy's
            raise ParseError(str(error).replace(_SCALAR_SUGGESTION, SUGGESTION)) from None


def _rank(node: ast.AST, ranks: Mapping[str, int]) -> int:
    """The number of axes of a translated expression (0 scalar, 1 vector, 2 matrix)."""
    if isinstance(node, ast.Name):
        return ranks.get(node.id, 0)
    if isinstance(node, ast.UnaryOp):
        return _rank(node.operand, ranks)
    if isinstance(node, ast.Attribute):
        return _rank(node.value, ranks)
    if isinstance(node, ast.BinOp):
        left, right = _rank(node.left, ranks), _rank(node.right, ranks)
        if isinstance(node.op, ast.MatMult) and left and right:
            return max(left + right - 2, 0)
        return max(left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_rank(a, ranks) for a in node.args]
        first = args[0] if args else 0
        name = node.func.id
        if name in ("sum", "mean"):
            return max(first - 1, 0) if node.keywords else 0
        if name == "logsumexp":
            return max(first - 1, 0)
        if name in ("norm", "trace", "det", "dot"):
            return 0
        if name == "diag":
            return 1 if first == 2 else 2
        if name == "outer":
            return 2
        return max(args, default=0)
    return 0


def latex_tensor_translation(text: str, *, ranks: Mapping[str, int]) -> str:
    r"""Translate a LaTeX matrix answer into symgd's NumPy notation (text only).

    .. math:: \frac{1}{m} X^\top(\sigma(Xw + b) - y) \mapsto
        \texttt{((1)/(m))*(X).T@(sigmoid((X@w + b)) - y)}

    Args:
        text: The LaTeX; a left-hand side such as ``\nabla_w J =`` is dropped.
        ranks: Every name the answer may use and its number of axes (0, 1 or 2).

    Returns:
        NumPy-notation text for :func:`symgd.define.tensor_expression`.

    Raises:
        ParseError: The LaTeX uses something outside the subset (one line).

    Example:
        >>> latex_tensor_translation(r"(X^{T} X)^{-1} X^T y", ranks={"X": 2, "y": 1})
        'inv(((X).T@X))@(X).T@y'
    """
    return _TensorTranslator(prepared_latex(text), ranks).translate()
