"""Declarations of shaped symbols: ``"w[d], b"``, ``"X[m,d], y[m]"``.

A declaration is a symbol name, optionally followed by its shape in brackets: shape letters
(names, which stay symbolic) or positive integers, at most two axes.

Example:
    >>> parse_declarations("X[m,d], y[m], lamda")
    (('X', ('m', 'd')), ('y', ('m',)), ('lamda', ()))
"""

from __future__ import annotations

import re

from symgd.parse.budgets import check_text
from symgd.parse.errors import ParseError, excerpt
from symgd.parse.names import parse_name

Declaration = tuple[str, tuple[str | int, ...]]

_ITEM = re.compile(r"\s*([^\[\],]*?)\s*(?:\[([^\]]*)\])?\s*$")
MAX_AXES = 2


def split_outside(text: str, brackets: str = "[]", example: str = "X[m,d]") -> list[str]:
    """Split ``text`` at commas outside one level of brackets.

    Args:
        text: E.g. ``"X[m,d], y[m]"`` or ``"conv(8,3),relu"``.
        brackets: The opening and closing bracket, ``"[]"`` or ``"()"``.
        example: What a well-formed item looks like, for the error messages.

    Raises:
        ParseError: Nested or unbalanced brackets.

    Example:
        >>> split_outside("conv(8,3),relu", "()", "conv(8,3)")
        ['conv(8,3)', 'relu']
    """
    opening, closing = brackets
    items, depth, start = [], 0, 0
    for position, character in enumerate(text):
        if character == opening:
            depth += 1
            if depth > 1:
                raise ParseError(f"nested brackets in {excerpt(text)}; write e.g. '{example}'")
        elif character == closing:
            depth -= 1
            if depth < 0:
                raise ParseError(
                    f"'{closing}' without '{opening}' in {excerpt(text)}; write e.g. '{example}'"
                )
        elif character == "," and depth == 0:
            items.append(text[start:position])
            start = position + 1
    if depth:
        raise ParseError(
            f"'{opening}' without '{closing}' in {excerpt(text)}; write e.g. '{example}'"
        )
    items.append(text[start:])
    return items


def _axis(text: str, item: str) -> str | int:
    text = text.strip()
    if re.fullmatch(r"[0-9]+", text):
        size = int(text)
        if not 0 < size <= 10**6:
            raise ParseError(f"size {text} in {excerpt(item)} must be between 1 and 10^6")
        return size
    if not text:
        raise ParseError(f"empty size in {excerpt(item)}; write e.g. 'X[m,d]'")
    return parse_name(text)


def parse_declarations(text: str) -> tuple[Declaration, ...]:
    """Parse comma-separated declarations ``name`` or ``name[a]`` or ``name[a,b]``.

    Args:
        text: E.g. ``"w[d], b"``.

    Returns:
        ``(name, shape)`` pairs in order; a shape holds letters and integers.

    Raises:
        ParseError: A name or size is invalid, brackets do not match, a name repeats or a
            shape has more than two axes.

    Example:
        >>> parse_declarations("W[k,d], b[k]")
        (('W', ('k', 'd')), ('b', ('k',)))
    """
    check_text(text)
    if not text.strip():
        return ()
    declarations: list[Declaration] = []
    for position, item in enumerate(split_outside(text), start=1):
        match = _ITEM.fullmatch(item)
        if not item.strip():
            raise ParseError(f"empty item {position} in {excerpt(text)}; remove the extra comma")
        if match is None:
            raise ParseError(f"could not read {excerpt(item)}; write e.g. 'w[d]' or 'X[m,d]'")
        name = parse_name(match.group(1))
        axes: tuple[str | int, ...] = ()
        if match.group(2) is not None:
            axes = tuple(_axis(part, item) for part in match.group(2).split(","))
            if len(axes) > MAX_AXES:
                raise ParseError(
                    f"{excerpt(item)} has {len(axes)} axes; symgd supports scalars, vectors "
                    "and matrices (at most 2 axes)"
                )
        if any(name == other for other, _ in declarations):
            raise ParseError(f"duplicate name '{name}' in {excerpt(text)}; declare it once")
        declarations.append((name, axes))
    return tuple(declarations)
