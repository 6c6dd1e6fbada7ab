"""Code as code: Python source as a LaTeX ``verbatim`` listing or a fenced Markdown block."""

from __future__ import annotations

__all__ = ["code_block", "code_listing"]


#: Type sizes of a listing and the longest line each fits in the text width (11pt article,
#: 2 cm margins: 500 pt; a typewriter character is 0.525 em).
_LISTING_SIZES = ((r"\small", 94), (r"\footnotesize", 104), (r"\scriptsize", 118))


def code_listing(source: str) -> str:
    r"""Python source as a LaTeX listing: ``verbatim`` (LaTeX's own), in typewriter type.

    The type is ``\small`` when every line fits the text width at that size, else
    ``\footnotesize`` or ``\scriptsize``; a line too long even then is broken at a space
    and continued with a backslash (still valid Python), so nothing runs off the page.

    Example:
        >>> print(code_listing("def f(x):\n    return x\n"))
        {\small
        \begin{verbatim}
        def f(x):
            return x
        \end{verbatim}
        }
        >>> long = "y = " + " + ".join(["x"] * 50)
        >>> listing = code_listing(long)
        >>> listing.count(" \\\n"), max(len(line) for line in listing.splitlines())
        (1, 117)
    """

    def broken(line: str, width: int) -> list[str]:
        # Break at the last space outside a string literal (a backslash there continues the line).
        parts = []
        while len(line) > width:
            spaces = [
                i
                for i, ch in enumerate(line[: width - 1])
                if ch == " " and line[:i].strip() and line[:i].count('"') % 2 == 0
                and line[:i].count("'") % 2 == 0
            ]  # fmt: skip
            if not spaces:
                break
            parts.append(line[: spaces[-1]] + " \\")
            indent = len(line) - len(line.lstrip()) + 4
            line = " " * indent + line[spaces[-1] + 1 :].lstrip()
        return [*parts, line]

    lines = source.rstrip().splitlines()
    longest = max(map(len, lines), default=0)
    size, width = next(
        ((size, width) for size, width in _LISTING_SIZES if longest <= width), _LISTING_SIZES[-1]
    )
    code = "\n".join(part for line in lines for part in broken(line, width))
    return f"{{{size}\n\\begin{{verbatim}}\n{code}\n\\end{{verbatim}}\n}}"


def code_block(source: str) -> str:
    """Python source as a fenced Markdown code block."""
    return f"```python\n{source.rstrip()}\n```\n"
