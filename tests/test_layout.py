"""The package layout is the pipeline: imports point forwards only, modules stay small.

Read with ``ast`` (nothing is imported to find the imports), so a lazy import inside a
function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symgd"

#: Each top-level part of ``symgd`` and its place in the pipeline. A module may import
#: from its own part and from parts with a smaller rank, never from a larger one.
STAGES = {
    "functions": 0,  # the named SymPy functions every stage shares (σ, softplus)
    "display": 0,  # the Jupyter display hook that render registers with
    "limits": 0,  # the time and size budgets around symbolic work
    "parse": 1,  # the only entry for user text
    "define": 2,
    "data": 2,
    "derivation": 3,
    "render": 4,
    "compile": 5,
    "training": 6,
    "verify": 7,
    "notes": 8,
    "cli": 9,
}
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(path: Path) -> str:
    """``symgd/training/runner.py`` -> ``training``; ``symgd/data.py`` -> ``data``."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_parts(source: str, where: str = "") -> list[tuple[int, str, str]]:
    """``(line, imported module, its part)`` for every import of a ``symgd`` module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "symgd":
                names = [f"symgd.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{where}:{node.lineno}: relative import; write 'from symgd.… import …'")
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "symgd" and len(parts) > 1:
                found.append((node.lineno, name, parts[1]))
    return found


def _backward_imports(source: str, here: str, where: str = "") -> list[str]:
    """Each import in ``source`` (a module of part ``here``) from a later stage, in words."""
    return [
        f"{where}:{line} imports {module}: stage {part!r} comes after {here!r} in the pipeline"
        for line, module, part in _imported_parts(source, where)
        if STAGES.get(part, len(STAGES)) > STAGES[here]
    ]


def test_every_part_has_a_stage():
    parts = {
        _part(path) for path in _modules() if path.name != "__init__.py" or path.parent != PACKAGE
    }
    assert parts <= set(STAGES), f"add {sorted(parts - set(STAGES))} to STAGES in {__file__}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_from_earlier_stages_only(path):
    if path.parent == PACKAGE and path.name == "__init__.py":
        return  # the top-level package re-exports every stage
    where = str(path.relative_to(PACKAGE.parent))
    assert _backward_imports(path.read_text(encoding="utf-8"), _part(path), where) == []


@pytest.mark.parametrize(
    ("source", "here"),
    [
        ("from symgd.render import to_latex", "derivation"),  # derive -> render
        ("def f():\n    from symgd.training.runner import train", "compile"),  # lazy, still counted
        ("import symgd.cli", "notes"),
        ("from symgd import notes", "verify"),
    ],
)
def test_a_backward_import_is_caught(source, here):
    assert len(_backward_imports(source, here)) == 1


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of imports as a list of modules (first = last), or ``None``.

    A module importing its own package (whose ``__init__`` only re-exports, tested below) on
    the way to a sibling is not a cycle.
    """
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        for target in sorted(edges.get(node, ())):
            if target in trail and not _is_parent(target, node):
                return trail[trail.index(target) :] + [target]
            if target not in done and target not in trail:
                found = visit(target, trail + [target])
                if found:
                    return found
        done.add(node)
        return None

    for node in sorted(edges):
        if node not in done:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_cycles_between_modules():
    graph = {}
    for path in _modules():
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        graph[name] = {m for _, m, _ in _imported_parts(path.read_text(encoding="utf-8"))}
    # An import of a package runs its __init__; an import of ``symgd.x.y`` runs ``symgd.x`` too.
    edges = {
        name: {t for module in targets for t in _with_parents(module) if t in graph and t != name}
        for name, targets in graph.items()
        if name != "symgd"
    }
    assert _find_cycle(edges) is None, " -> ".join(_find_cycle(edges))


def test_a_cycle_is_caught():
    edges = {"symgd.a.x": {"symgd.b"}, "symgd.b": {"symgd.b.y"}, "symgd.b.y": {"symgd.a.x"}}
    assert _find_cycle(edges) == ["symgd.a.x", "symgd.b", "symgd.b.y", "symgd.a.x"]
    assert _find_cycle({"symgd.a": {"symgd.a.x"}, "symgd.a.x": {"symgd.a"}}) is None


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(2, len(parts) + 1)]


def _is_parent(package: str, module: str) -> bool:
    """A module importing a sibling through its own package's ``__init__`` is not a cycle
    when the ``__init__`` only re-exports (checked below)."""
    return module.startswith(package + ".")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_the_limit(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_init_modules_only_re_export(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported, exported = set(), None
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom):
            assert node.module and node.module.startswith("symgd"), f"{path}: {ast.unparse(node)}"
            for alias in node.names:
                assert alias.asname == alias.name, f"{path}: write '{alias.name} as {alias.name}'"
                imported.add(alias.name)
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"]:
            exported = set(ast.literal_eval(node.value))
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            continue
        else:
            pytest.fail(f"{path}:{node.lineno}: an __init__ only re-exports: {ast.unparse(node)}")
    assert exported == imported, (
        f"{path}: __all__ differs from the imports by {exported ^ imported}"
    )


def test_star_import_works():
    # In a fresh interpreter: nothing imported before can hide a missing name.
    code = (
        "from symgd import *; import symgd; names = dir(); assert set(symgd.__all__) <= set(names)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
