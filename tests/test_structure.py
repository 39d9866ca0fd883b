"""The code reads top-down: views → services → models, and no module imports the package that imports it."""

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"
# What each layer may import of ours, besides itself.
LAYERS = {
    "portal.models": ("portal.models", "portal.i18n"),
    "portal.services": ("portal.services", "portal.models", "portal.extensions", "portal.i18n"),
}


def _modules():
    for path in sorted(PORTAL.rglob("*.py")):
        parts = path.relative_to(PORTAL.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, path.name == "__init__.py"


def _imports(path: Path):
    """(module, [names]) for every ``import``/``from … import`` of ours in the file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("portal"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("portal"):
                    yield alias.name, []


def _is_module(dotted: str) -> bool:
    path = PORTAL.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


MODULES = list(_modules())


def _imported_modules(package: str) -> set[str]:
    """The modules a package's ``__init__`` imports at any depth (``from pkg import sub`` counts)."""
    init = PORTAL.parent.joinpath(*package.split("."), "__init__.py")
    found = set()
    for module, names in _imports(init):
        found.add(module)
        found.update(f"{module}.{n}" for n in names if _is_module(f"{module}.{n}"))
    return found


@pytest.mark.parametrize("name, path, is_package", MODULES, ids=[name for name, *_ in MODULES])
def test_no_module_imports_the_package_that_imports_it(name, path, is_package):
    if is_package:
        return
    ancestors = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}
    importers = {package for package in ancestors if name in _imported_modules(package)}
    for module, names in _imports(path):
        if module in importers:
            taken = [n for n in names if not _is_module(f"{module}.{n}")]
            assert not taken, f"{name} imports {taken} from {module}, which imports {name}"


@pytest.mark.parametrize("layer, allowed", LAYERS.items())
def test_lower_layers_never_import_the_ones_above(layer, allowed):
    for name, path, _ in MODULES:
        if name != layer and not name.startswith(layer + "."):
            continue
        for module, _names in _imports(path):
            assert module.startswith(allowed), f"{name} imports {module}"
