"""The examples in the migrate modules' docstrings are tests too."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["plan", "classify"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"safejob_ops.migrate.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_the_package_does_not_import_django() -> None:
    # GIVEN a fresh interpreter (the Lambda layer has no Django)
    code = "import sys, safejob_ops.migrate; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    # WHEN it imports the migrate domain
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # THEN Django was not imported: only the emitter needs it, and it runs in the application's process
    assert result.stdout.strip() == "[]"
