"""The documentation runs: the literate core walk, the doctests, and every code block.

* ``docs/how_it_works.py`` is executed as a script; its assertions are the test.
* The ``>>>`` examples in the docstrings of fxgrad's public modules run under doctest.
* Every ```` ```python ```` block of README.md and docs/*.md runs, in order, in one
  namespace per file (a page reads top to bottom, so later blocks may use earlier names).
  A block written with ``>>>`` prompts runs as a doctest, so the outputs it shows are
  checked too; any other block is executed and must not raise.

A block can be preceded by an HTML comment that the rendered page does not show:

* ``<!-- docs-test: skip -->`` for a fragment that is not meant to run on its own.
* ``<!-- docs-test: requires=indexing,control_flow -->`` for a block that uses a feature
  still being built. The block is skipped, naming the feature, while the feature's probe
  (``_FEATURE_PROBES`` below) fails, and runs as soon as the feature works.

``docs/errors.md`` is checked by the tests of fxgrad.errors, not here: its "Wrong" blocks
are fragments on purpose.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import pathlib
import pkgutil
import re
import runpy
from collections.abc import Callable

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# ---------------------------------------------------------------------------------------
# docs/how_it_works.py
# ---------------------------------------------------------------------------------------


def test_how_it_works_runs() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(DOCS / "how_it_works.py"), run_name="__main__")
    text = out.getvalue()
    assert "every assertion held" in text
    # The course-notes example prints its graph.
    assert "c:f64[] = log a" in text and "f:f64[] = sin b" in text


# ---------------------------------------------------------------------------------------
# Doctests of the public modules
# ---------------------------------------------------------------------------------------

# The public modules whose docstring examples must run. Every module of the
# fxgrad.numpy package is added, so a new one is covered without editing this list.
DOCTEST_MODULES = [
    "fxgrad",
    "fxgrad.api",
    "fxgrad.staging",
    "fxgrad.custom_derivatives",
    "fxgrad.ad_checkpoint",
    "fxgrad.debug",
    "fxgrad.lax.control_flow.conditionals",
    "fxgrad.lax.control_flow.associative",
    "fxgrad.config",
    "fxgrad.extend",
    "fxgrad.tree",
    "fxgrad.tree_util",
    "fxgrad.test_util",
]


def _doctest_module_names() -> list[str]:
    import fxgrad.numpy

    names = [name for name in DOCTEST_MODULES if importlib.util.find_spec(name) is not None]
    names.append("fxgrad.numpy")
    for info in pkgutil.walk_packages(fxgrad.numpy.__path__, "fxgrad.numpy."):
        names.append(info.name)
    return names


def _doctests() -> list:
    finder = doctest.DocTestFinder(exclude_empty=True)
    params = []
    for name in _doctest_module_names():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            # Skip objects re-exported from another module: they are tested there.
            if test.examples and test.name.startswith(name):
                params.append(pytest.param(test, id=test.name))
    return params


@pytest.mark.parametrize("test", _doctests())
def test_docstring_examples(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    result = runner.run(test, out=out.write, clear_globs=True)
    assert result.failed == 0, f"doctest {test.name} failed:\n{out.getvalue()}"


# ---------------------------------------------------------------------------------------
# Code blocks of README.md and docs/*.md
# ---------------------------------------------------------------------------------------


def _probe_indexing() -> None:
    import fxgrad.numpy as fnp

    assert float(fnp.arange(3.0)[1]) == 1.0


def _probe_at() -> None:
    import fxgrad.numpy as fnp

    assert float(fnp.zeros(2).at[0].set(1.0).sum()) == 1.0


def _probe_jacobian() -> None:
    import fxgrad
    import fxgrad.numpy as fnp

    fxgrad.jacfwd(fnp.sin)(fnp.ones(2))
    fxgrad.jacrev(fnp.sin)(fnp.ones(2))


def _probe_control_flow() -> None:
    from fxgrad import lax

    for name in ("cond", "while_loop", "fori_loop", "scan"):
        getattr(lax, name)


def _probe_joining() -> None:
    import fxgrad.numpy as fnp

    fnp.stack([fnp.ones(2), fnp.zeros(2)])
    fnp.concatenate([fnp.ones(2), fnp.zeros(2)])


def _probe_random() -> None:
    import fxgrad

    fxgrad.random.normal(fxgrad.random.PRNGKey(0), (2,))


_FEATURE_PROBES: dict[str, Callable[[], None]] = {
    "indexing": _probe_indexing,
    "at": _probe_at,
    "jacobian": _probe_jacobian,
    "control_flow": _probe_control_flow,
    "joining": _probe_joining,
    "random": _probe_random,
}

_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.S | re.M
)
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<what>[^>]*?)\s*-->\s*$")


def _missing_features(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        probe = _FEATURE_PROBES.get(name)
        if probe is None:
            raise ValueError(
                f"unknown docs-test feature {name!r}; known: {sorted(_FEATURE_PROBES)}"
            )
        try:
            probe()
        except Exception:  # noqa: BLE001 - any failure means the feature is not there yet
            missing.append(name)
    return missing


def python_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(line, directive, code)`` for each ```` ```python ```` block of a Markdown text."""
    blocks = []
    for match in _FENCE.finditer(text):
        info = match.group("info").strip().split()
        if not info or info[0] not in ("python", "py"):
            continue
        body = match.group("body")
        if body.lstrip().startswith("--8<--"):
            continue  # a snippet include (pymdownx.snippets); the included file runs itself
        indent = len(match.group("indent"))
        code = "\n".join(line[indent:] for line in body.splitlines())
        start = text.count("\n", 0, match.start())
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        directive = _DIRECTIVE.search(before)
        blocks.append((start + 1, directive.group("what") if directive else "", code))
    return blocks


def _markdown_files() -> list[pathlib.Path]:
    files = [ROOT / "README.md", ROOT / "examples" / "README.md"]
    files += sorted(p for p in DOCS.rglob("*.md") if p.name != "errors.md")
    return [p for p in files if p.exists()]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_code_blocks_run(path: pathlib.Path, monkeypatch) -> None:
    import fxgrad

    monkeypatch.chdir(ROOT)
    text = path.read_text()
    namespace: dict = {"__name__": "__docs__"}
    skipped = []
    ran = 0
    try:
        for line, directive, code in python_blocks(text):
            if directive == "skip":
                continue
            if directive.startswith("requires="):
                needs = [n.strip() for n in directive.split("=", 1)[1].split(",") if n.strip()]
                missing = _missing_features(needs)
                if missing:
                    skipped.append(f"line {line} needs {', '.join(missing)}")
                    continue
            elif directive:
                raise ValueError(f"{path.name}:{line}: unknown docs-test directive {directive!r}")
            _run_block(code, namespace, f"{path.relative_to(ROOT)}:{line}")
            ran += 1
    finally:
        # Blocks may change process-wide flags (default_float); restore the defaults.
        _restore_config(fxgrad)
    if skipped and not ran:
        pytest.skip("; ".join(skipped))
    if skipped:
        # Ran what can run; say what could not (shown with -rs in the summary).
        pytest.skip(f"ran {ran} block(s); skipped {'; '.join(skipped)}")


def _run_block(code: str, namespace: dict, where: str) -> None:
    """Run one block: as a doctest if it is written with ``>>>`` prompts, else exec it."""
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        out = io.StringIO()
        result = runner.run(test, out=out.write, clear_globs=False)
        namespace.update(test.globs)  # DocTest works on a copy of the namespace
        assert result.failed == 0, f"the code block at {where} failed:\n{out.getvalue()}"
        return
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, where, "exec"), namespace)
    except Exception as err:
        raise AssertionError(
            f"the code block at {where} failed: {type(err).__name__}: {err}\n---\n{code}"
        ) from err


def _restore_config(fxgrad) -> None:
    for name, default in (("default_float", "float64"), ("default_int", "int64")):
        if fxgrad.config.read(name) != default:
            fxgrad.config.update(name, default)
    fxgrad.config.update("jax_compatible_where_grad", False)


def test_python_blocks_parser() -> None:
    text = (
        "intro\n"
        "```python\nx = 1\n```\n"
        "<!-- docs-test: skip -->\n"
        "```python\nbroken(\n```\n"
        "```bash\nmake demo\n```\n"
        "- a list item\n\n"
        "    ```python\n    y = 2\n    ```\n"
    )
    blocks = python_blocks(text)
    assert [(d, c) for _, d, c in blocks] == [("", "x = 1"), ("skip", "broken("), ("", "y = 2")]
    assert blocks[0][0] == 2
