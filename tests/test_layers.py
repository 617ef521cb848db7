"""The package's folders are its layers, and each imports only from the layers below it.

Read from the source with ``ast`` (imports inside functions count too), so a
late import cannot sneak past the rules of docs/ARCHITECTURE.md:

- ``trace`` imports nothing of sockdemo's but itself;
- ``apm`` imports only ``trace``; ``servers`` only ``apm`` and ``trace``;
- ``real`` and ``sim`` never import each other, ``views`` or ``lab``
  (``sim`` may import ``servers``: its scenarios name them);
- ``views`` import only ``trace`` (never a runtime, a server or a socket);
- nothing imports ``lab`` but ``lab`` itself, the package's re-exports and
  ``__main__``; nothing imports the command line but ``__main__``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sockdemo"
LAYERS = ("apm", "servers", "real", "sim", "trace", "views", "lab")
ALLOWED = {
    "trace": {"trace"},
    "apm": {"apm", "trace"},
    "servers": {"servers", "apm", "trace"},
    "real": {"real", "apm", "trace"},
    "sim": {"sim", "apm", "servers", "trace"},
    "views": {"views", "trace"},
    "lab": set(LAYERS),
}
ENTRY_POINTS = {"sockdemo", "sockdemo.__main__"}
CLI = "sockdemo.lab.cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every sockdemo module ``path`` imports, as absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import kinds`
    return {m for m in found if m == "sockdemo" or m.startswith("sockdemo.")}


def layer_of(module: str):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer():
    loose = [module_name(p) for p in MODULES
             if layer_of(module_name(p)) is None and module_name(p) not in ENTRY_POINTS]
    assert not loose, f"modules outside every layer folder: {loose}"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_follow_the_layers(path):
    me = module_name(path)
    mine = layer_of(me)
    if mine is None:
        return  # the entry points may import anything
    wrong = sorted(m for m in imported(path)
                   if layer_of(m) is not None and layer_of(m) not in ALLOWED[mine])
    assert not wrong, f"{me} ({mine}) may import only {sorted(ALLOWED[mine])}, but imports {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_only_the_entry_point_imports_the_command_line(path):
    me = module_name(path)
    if me == "sockdemo.__main__":
        return
    assert not {m for m in imported(path) if m == CLI or m.startswith(CLI + ".")}, (
        f"{me} imports the command line; only sockdemo.__main__ may")


def test_the_checker_sees_a_forbidden_import(tmp_path):
    # A test that cannot fail checks nothing: a view importing a runtime must be caught.
    fake = PACKAGE / "views" / "_layer_probe.py"
    assert not fake.exists()
    try:
        fake.write_text("from ..real.runtime import RealRuntime\n", encoding="utf-8")
        assert "sockdemo.real.runtime" in imported(fake)
        with pytest.raises(AssertionError, match="may import only"):
            test_imports_follow_the_layers(fake)
    finally:
        fake.unlink()
