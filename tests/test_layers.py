"""The package's layers import downward only: data -> llm -> model -> trainer -> quick start -> benchmark / cli."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "recbole_soft"

# module (or subpackage) -> layer; a module may import its own layer and the ones below it
LAYERS = {
    "compat": 0, "atomic": 0, "errors": 0, "settings": 0, "distributed": 0,
    "data": 1,
    "llm": 2,
    "model": 3,
    "trainer": 4,
    "registry": 5, "config": 5,
    "quick_start": 6, "recommend": 6, "trained_model": 6,
    "benchmark": 7,
    "cli": 8,
}


def layer_of(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def is_module(name: str) -> bool:
    """A module or subpackage of the package (not a name its front door exports, such as run_recbole_soft)."""
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def imports_of(path: Path) -> set[str]:
    """Every recbole_soft module the file imports, at the top or inside a function, by name or by import path."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "recbole_soft":  # from recbole_soft import compat
            found |= {f"recbole_soft.{alias.name}" for alias in node.names if is_module(alias.name)}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recbole_soft."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("recbole_soft.")}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("recbole_soft."):
            found.add(node.value.split(":")[0])  # the registry's and __init__'s lazy import paths
    return found


def test_every_import_form_is_seen(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from recbole_soft import cli, run_recbole_soft\nimport recbole_soft.data.history\n"
                      "from recbole_soft.model import bigrec\n")
    assert imports_of(source) == {"recbole_soft.cli", "recbole_soft.data.history", "recbole_soft.model"}


def test_every_module_belongs_to_a_layer():
    modules = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in PACKAGE.rglob("*.py")}
    assert modules - {"__init__"} <= set(LAYERS)


def test_layers_import_downward_only():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue  # the package's lazy front door names the public API, whatever its layer
        module = "recbole_soft." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for imported in imports_of(path):
            if layer_of(imported) > layer_of(module):
                upward.append(f"{module} imports {imported}")
    assert upward == []
