"""A Griffe extension for the API reference: read ``Example:`` as an examples section.

fxgrad's docstrings follow Google style, which allows both ``Example:`` and
``Examples:``. Griffe only knows the plural and renders the singular as an admonition,
which turns ``>>>`` prompts into nested block quotes. This extension renames the
section header in the docstring text before Griffe parses it. It changes only what the
documentation site shows; the docstrings themselves are untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADER = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` section headers to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADER.sub(r"\1Examples:", obj.docstring.value)
