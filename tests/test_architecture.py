"""The dependency direction of ``src/hq_sync`` (docs/architecture.md "Dependency direction and checks").

Reads the sources with ``ast`` (nothing is imported) and checks every ``hq_sync`` import, wherever it
stands (module level, inside a function, under ``TYPE_CHECKING``): a module may import its own
package and packages of a LOWER tier only. There are no exceptions (the cycles issue 13 found are
gone): any import against the direction fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hq_sync"

# Lowest first. "" is the package root's own modules (paths, timeutil, errors, progress).
#   airflow -> pipelines -> (transform, load) -> run -> (staging, clients); ops and connect are the operators'
#   commands on top (they use the Airflow connections); audit, timesheets and webhooks are libraries the
#   pipelines use.
TIERS: list[set[str]] = [
    {"", "paths", "timeutil", "errors", "progress", "kinds"},
    {"mappings"},
    {"config", "staging", "clients"},
    # the RunContext every step takes: above config/staging/clients (it names their types), below load
    # and audit (they take it) and pipelines (which build it and import load and audit)
    {"run"},
    {"transform", "load", "webhooks", "timesheets"},
    {"audit"},
    {"pipelines"},
    {"airflow"},
    {"ops", "connect"},
]
TIER = {package: rank for rank, packages in enumerate(TIERS) for package in packages}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """The hq_sync subpackage a module belongs to ("" for the root's own modules)."""
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    return parts[1] if (PACKAGE / parts[1]).is_dir() else ""


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """The hq_sync modules (or packages) a file imports."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:  # from hq_sync.ops import alerts: the submodule
                submodule = f"{target}.{alias.name}"
                found.add(submodule if is_module(submodule) else target)
    return {name for name in found if name == "hq_sync" or name.startswith("hq_sync.")}


def edges() -> set[tuple[str, str]]:
    return {(module_name(path), target) for path in sorted(PACKAGE.rglob("*.py")) for target in imports(path)}


def violations() -> set[tuple[str, str]]:
    out = set()
    for source, target in edges():
        a, b = package_of(source), package_of(target)
        if a != b and TIER[b] >= TIER[a]:
            out.add((source, target))
    return out


def test_every_package_has_a_tier():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(TIER) == set(), "place the new package in TIERS (tests/test_architecture.py)"


def test_the_walk_sees_the_imports():
    found = edges()
    assert ("hq_sync.airflow.tasks", "hq_sync.pipelines") in found
    assert ("hq_sync.pipelines.personio_absences", "hq_sync.load.absences") in found
    assert ("hq_sync.ops.probe", "hq_sync.airflow.hooks") in found  # a function-level import too
    assert len(found) > 100


def test_dependencies_point_one_way():
    new = violations()
    assert not new, (
        "imports against the dependency direction (docs/architecture.md, 'Dependency direction and checks'): "
        + "; ".join(
            f"{s} -> {t} ({package_of(s) or 'hq_sync'} may not import {package_of(t) or 'hq_sync'})"
            for s, t in sorted(new)
        )
    )


def test_the_library_never_imports_the_sandboxes():
    offenders = sorted(
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sandboxes" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "sandboxes")
    )
    assert offenders == []
