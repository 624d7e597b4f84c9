"""textclf_core's own imports, read from the source (ast, nothing is executed): no import cycle, and no
private name (``_x``) of one module used by another, whether imported by name or reached as an attribute
of an imported module. Function-level imports count: they are still a dependency.

There is no allow-list: the two cycles and the private imports found before issue 14 are gone.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "textclf_core"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every .py under the package folder ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """(edges module → modules it imports, ``"private: user <- owner.name"`` findings)."""
    mods = module_names(root)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private: list[str] = []
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # local name → package module it refers to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _target(module, path.name == "__init__.py", node)
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    owner = full if full in mods else target
                    if owner not in mods or owner == module:
                        continue
                    edges[module].add(owner)
                    if owner == full:
                        bound[alias.asname or alias.name] = full
                    elif _private(alias.name):
                        private.append(f"private: {module} <- {owner}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods and alias.name != module:
                        edges[module].add(alias.name)
                        if alias.asname:
                            bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
            ):
                private.append(f"private: {module} <- {bound[node.value.id]}.{node.attr}")
    return edges, sorted(set(private))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def findings(root: Path) -> set[str]:
    edges, private = import_graph(root)
    return {f"cycle: {', '.join(c)}" for c in cycles(edges)} | set(private)


def test_no_import_cycle_or_private_import():
    found = sorted(findings(PACKAGE))
    assert not found, (
        "Import cycle or private import inside textclf_core (make the name public in the lower "
        "module, or move the shared piece down):\n" + "\n".join(found)
    )


def test_the_checker_sees_cycles_and_private_names(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import helper\n")
    (pkg / "b.py").write_text("def helper():\n    from . import c\n    return c._secret\n")
    (pkg / "c.py").write_text("import pkg.a\n_secret = 1\n")
    (pkg / "sub" / "__init__.py").write_text("from ..a import _hidden\nfrom . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("from pkg import d\n")
    (pkg / "d.py").write_text("x = 1\n")
    assert findings(pkg) == {
        "cycle: pkg.a, pkg.b, pkg.c",
        "private: pkg.b <- pkg.c._secret",
        "private: pkg.sub <- pkg.a._hidden",
    }
    edges, _ = import_graph(pkg)
    assert edges["pkg.sub.leaf"] == {"pkg.d"} and edges["pkg.sub"] == {"pkg.a", "pkg.sub.leaf"}


def levels(edges: dict[str, set[str]]) -> list[list[str]]:
    """Top-level modules of the package by dependency depth, deepest first: each level imports only
    from the levels after it (the picture in ARCHITECTURE.md)."""
    top = {m: m.split(".")[1] + ("/" if (PACKAGE / m.split(".")[1]).is_dir() else "") for m in edges if "." in m}
    deps: dict[str, set[str]] = {t: set() for t in top.values()}
    for module, targets in edges.items():
        if module in top:
            deps[top[module]] |= {top[t] for t in targets if t in top and top[t] != top[module]}
    depth: dict[str, int] = {}

    def visit(m: str) -> int:
        if m not in depth:
            depth[m] = 1 + max((visit(d) for d in deps[m]), default=-1)
        return depth[m]

    for m in deps:
        visit(m)
    return [sorted(m for m in deps if depth[m] == d) for d in sorted(set(depth.values()), reverse=True)]


def test_the_picture_in_architecture_md_is_the_import_graph():
    """ARCHITECTURE.md draws textclf_core's modules one dependency level per line; it stays true."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    drawn = [
        line.split(" · ")
        for line in (ln.strip() for ln in text.splitlines())
        if line
        and all(part.replace("_", "").replace("/", "").isalnum() for part in line.split(" · "))
        and line.split(" · ")[0] in {"cli", "errors"} | set(sum(levels(import_graph(PACKAGE)[0]), []))
    ]
    expected = levels(import_graph(PACKAGE)[0])
    assert drawn == expected, "Redraw the picture in ARCHITECTURE.md:\n" + "\n".join(
        "  " + " · ".join(level) for level in expected
    )


# The layers of textclf_core, lowest first: a package or leaf module imports only from its own layer's
# modules (inside itself) and from layers below it. ARCHITECTURE.md explains the cut.
LAYERS = [
    {"errors", "fs", "figures", "strategy_registry", "units"},
    {"labels", "events", "hardware", "config"},
    {"data"},
    {"store"},
    {"evaluation"},
    {"engine"},
    {"models"},
    {"strategies"},
    {"review"},
    {"labelling"},
    {"pipeline"},
    {"rest"},
    {"cli"},
]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, layer in enumerate(LAYERS):
        if parts[1] in layer:
            return i
    return None


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in edges.items():
        own = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if own is None or theirs is None:
                continue
            same_unit = module.split(".")[1] == target.split(".")[1]
            if theirs > own or (theirs == own and not same_unit):
                found.append(f"{module} -> {target}")
    return sorted(found)


def test_packages_import_downwards_only():
    edges, _ = import_graph(PACKAGE)
    unplaced = sorted({m.split(".")[1] for m in edges if "." in m and layer_of(m) is None})
    assert not unplaced, f"Place these in LAYERS (and in ARCHITECTURE.md): {unplaced}"
    found = upward_imports(edges)
    assert not found, "An import points up or sideways between layers (move the shared piece down):\n" + "\n".join(
        found
    )


def test_the_layer_check_sees_an_upward_import():
    edges = {
        "textclf_core.store.runs": {"textclf_core.pipeline.jobs"},
        "textclf_core.pipeline.jobs": set(),
        "textclf_core.pipeline.runner": {"textclf_core.store.runs", "textclf_core.pipeline.jobs"},
        "textclf_core.labelling.active": {"textclf_core.pipeline.jobs"},
    }
    assert upward_imports(edges) == [
        "textclf_core.labelling.active -> textclf_core.pipeline.jobs",
        "textclf_core.store.runs -> textclf_core.pipeline.jobs",
    ]
