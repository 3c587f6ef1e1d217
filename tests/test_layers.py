"""The shape of the code base: no import cycles among nnlife's modules, and a campaign's
driver that runs without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnlife

PACKAGE = Path(nnlife.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The nnlife modules that ``path`` imports, at any depth of the code (function-level
    imports count), each with its parent packages (importing ``a.b.c`` runs ``a.b`` first)
    except the importer's own (which have run before it)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                found.add(".".join(parts[:i]))
    return {t for t in found if not name.startswith(t + ".")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    # `from .x import name` names a module only when x.name is one
    return {m: {t for t in imports_of(p) if t in modules and t != m} for m, p in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_edges_are_read_from_every_depth():
    edges = graph()
    assert "nnlife.executors.base" in edges["nnlife.executors.local"]
    assert {"nnlife.lifespan", "nnlife.run"} <= edges["nnlife.cli.training"]  # imported inside its command function
    # importing a submodule of another package runs that package first
    assert "nnlife.executors" in edges["nnlife.campaign.options"]


def test_no_import_cycles_among_nnlife_modules():
    assert find_cycle(graph()) is None


def test_the_campaign_driver_and_status_do_not_import_torch():
    code = ("import sys; import nnlife.campaign, nnlife.campaign.driver, nnlife.campaign.status, nnlife.executors, "
            "nnlife.executors.ray, nnlife.record, nnlife.run, nnlife.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'nnlife.campaign.task' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_only_the_task_module_of_the_campaign_package_imports_torch():
    campaign = PACKAGE / "campaign"
    direct = {p.stem for p in campaign.glob("*.py")
              if any(isinstance(n, (ast.Import, ast.ImportFrom)) and "torch" in ast.dump(n)
                     for n in ast.walk(ast.parse(p.read_text())))}
    assert direct == {"task"}
    edges = graph()
    heavy = {"nnlife.train", "nnlife.data", "nnlife.build", "nnlife.lifespan", "nnlife.campaign.task"}
    for m in edges:
        if m.startswith("nnlife.campaign") and m != "nnlife.campaign.task":
            assert not (edges[m] & heavy), (m, edges[m] & heavy)
