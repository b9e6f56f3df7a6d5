"""Import layering (STYLE.md rule 7) and the public surface of ``import fxgrad``.

Imports flow one way: interpreters import core/jaxpr; lax imports interpreters; numpy
imports lax; api and nn import numpy; lowering imports only jaxpr, the lax
classification and kernel_ir. The rules are checked by parsing every module of the
package with ``ast`` (imports inside functions count: they are dependencies too).
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import fxgrad

PACKAGE_DIR = Path(fxgrad.__file__).parent

# importer prefix -> module prefixes it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "fxgrad.core": (
        "fxgrad.interpreters",
        "fxgrad.lax",
        "fxgrad.numpy",
        "fxgrad.api",
        "fxgrad.nn",
        "fxgrad.lowering",
        "fxgrad.array",
    ),
    "fxgrad.jaxpr": (
        "fxgrad.interpreters",
        "fxgrad.lax",
        "fxgrad.numpy",
        "fxgrad.api",
        "fxgrad.nn",
        "fxgrad.lowering",
        "fxgrad.array",
    ),
    "fxgrad.errors": ("fxgrad",),  # errors.py imports nothing from fxgrad
    "fxgrad.interpreters": (
        "fxgrad.lax",
        "fxgrad.numpy",
        "fxgrad.api",
        "fxgrad.nn",
        "fxgrad.lowering",
        "fxgrad.extend",
    ),
    "fxgrad.lax": ("fxgrad.numpy", "fxgrad.api", "fxgrad.nn", "fxgrad.extend"),
    "fxgrad.numpy": ("fxgrad.api", "fxgrad.nn"),
    "fxgrad.lowering": ("fxgrad.api", "fxgrad.numpy", "fxgrad.nn", "fxgrad.interpreters"),
}


# Known violations, reported to the owners; excluded from test_import_layering and
# asserted away (strict xfail) in test_known_layering_violations_are_fixed.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _is_known(importer: str, imported: str) -> bool:
    return any(
        (importer == a or importer.startswith(a + ".")) and imported == b
        for a, b in KNOWN_VIOLATIONS
    )


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(name: str) -> str:
    """``fxgrad.X`` for ``from fxgrad import X`` when X is a submodule, else ``name``."""
    parts = name.split(".")
    candidate = PACKAGE_DIR.parent.joinpath(*parts)
    if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
        return name
    return name.rsplit(".", 1)[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every fxgrad module imported by the file at ``path``, with its line."""
    module = _module_name(path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fxgrad":
                    found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fxgrad":
                continue
            for alias in node.names:
                found.append((_resolve(f"{target}.{alias.name}"), node.lineno))
    return found


def _all_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _violations(known: bool = False) -> list[str]:
    """Layering violations; the known ones only (``known=True``) or all the others."""
    out = []
    for path in _all_modules():
        importer = _module_name(path)
        for prefix, forbidden in FORBIDDEN.items():
            if not (importer == prefix or importer.startswith(prefix + ".")):
                continue
            for imported, line in _imports(path):
                if _is_known(importer, imported) != known:
                    continue
                for bad in forbidden:
                    if imported == bad or imported.startswith(bad + "."):
                        rel = path.relative_to(PACKAGE_DIR.parent)
                        out.append(
                            f"{rel}:{line}: {importer} imports {imported} ({prefix} "
                            f"must not import {bad})"
                        )
    return out


def test_parser_sees_known_imports():
    api_imports = {name for name, _ in _imports(PACKAGE_DIR / "api.py")}
    assert "fxgrad.core" in api_imports
    assert "fxgrad.numpy" in api_imports  # `from fxgrad import numpy as fnp`
    assert "fxgrad.interpreters.batching" in api_imports


def test_import_layering():
    bad = _violations()
    assert not bad, "import layering (STYLE.md rule 7) violated:\n" + "\n".join(bad)


def test_known_layering_violations_are_fixed():
    bad = _violations(known=True)
    assert not bad, "\n".join(bad)


def test_layering_check_catches_a_violation(tmp_path, monkeypatch):
    # the checker itself must be able to fail
    fake = tmp_path / "fxgrad" / "interpreters"
    fake.mkdir(parents=True)
    (tmp_path / "fxgrad" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text("from fxgrad.lax import add\nfrom ..numpy import sum\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", tmp_path / "fxgrad")
    bad = _violations()
    assert any("fxgrad.lax" in b for b in bad)
    assert any("fxgrad.numpy" in b for b in bad)


def test_import_fxgrad_exposes_all():
    missing = [name for name in fxgrad.__all__ if not hasattr(fxgrad, name)]
    assert not missing, f"fxgrad.__all__ names missing from the package: {missing}"
    assert len(set(fxgrad.__all__)) == len(fxgrad.__all__)


@pytest.mark.parametrize(
    "name",
    [
        "grad",
        "value_and_grad",
        "jvp",
        "vjp",
        "linearize",
        "linear_transpose",
        "jacfwd",
        "jacrev",
        "hessian",
        "vmap",
        "jit",
        "make_jaxpr",
        "eval_shape",
        "device_put",
        "stop_gradient",
        "ShapeDtypeStruct",
        "Array",
        "numpy",
        "lax",
        "tree_util",
    ],
)
def test_public_transformations_are_exported(name):
    assert name in fxgrad.__all__
    assert getattr(fxgrad, name) is not None


def test_api_all_is_reexported():
    api = importlib.import_module("fxgrad.api")
    missing = [n for n in api.__all__ if n not in fxgrad.__all__]
    assert not missing, f"fxgrad.api.__all__ names not re-exported by fxgrad: {missing}"


def test_subpackage_all_names_exist():
    for modname in ("fxgrad.numpy", "fxgrad.tree_util", "fxgrad.errors"):
        mod = importlib.import_module(modname)
        missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
        assert not missing, f"{modname}.__all__ names missing: {missing}"


def test_import_fxgrad_in_a_fresh_interpreter():
    code = "import fxgrad, fxgrad.numpy as fnp; print(float(fxgrad.grad(fnp.sin)(0.0)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.0"
