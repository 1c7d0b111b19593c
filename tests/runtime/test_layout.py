"""The layout's rules, read from the code: which subpackage may import which (lazy imports
inside functions count too; TYPE_CHECKING-only imports do not: they are not dependencies)."""

from __future__ import annotations

import ast
from pathlib import Path

import f5_runtime

PACKAGE = Path(f5_runtime.__file__).parent
# subpackage -> the subpackages it must not import
FORBIDDEN = {
    "engines": {"api", "flow", "io", "serving", "voices"},  # the models know nothing of the service
    "io": {"api", "flow", "serving", "voices"},
    "voices": {"api", "flow", "serving"},  # a library: the API, the flow and servers call it
    "api": {"flow", "serving"},
    "flow": {"serving"},
    "models": {"api", "flow", "io", "serving"},
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                visit(ast.iter_child_nodes(node))

    visit(ast.parse(path.read_text()).body)
    return {name for name in found if name.startswith("f5_runtime.")}


def test_subpackages_depend_one_way() -> None:
    broken = []
    for sub, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            for name in imports(path):
                if name.split(".")[1] in forbidden:
                    broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert broken == []


def test_modules_stay_readable() -> None:
    sizes = {p.relative_to(PACKAGE): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 450, {p: n for p, n in sizes.items() if n > 450}
