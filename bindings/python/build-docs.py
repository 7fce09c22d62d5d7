"""Builds the API page of the Python package with pdoc and checks it.

    python bindings/python/build-docs.py [OUT]    (default: target/docs/python)

Run by run-tests.sh with the test venv's Python (pdoc installed there).
Fails (exit 1, naming each problem) when pdoc warns while rendering, or when
a public name has no docstring: every name in `coord.__all__` and
`coord.testing.__all__`, and every public method, property and attribute of
those classes that the package itself defines (members inherited from
Python's builtins, such as `Exception.args`, are not ours to document).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import List

import pdoc
import pdoc.doc

MODULES = ("coord", "coord.testing")
"""The public modules; pdoc renders `coord` and its public submodules."""


def named_in_class_doc(cls: pdoc.doc.Class, member: str) -> bool:
    """True when the class (or a base class of ours) documents `member` in
    its own docstring, as `member` in backticks: how the native exception
    classes document `code`, `name` and `detail`, which have no source."""
    for base in cls.obj.__mro__:
        if base.__module__.startswith("coord") and f"`{member}`" in (base.__doc__ or ""):
            return True
    return False


def undocumented(module_name: str) -> List[str]:
    """The public names of `module_name` (its `__all__`) without a docstring."""
    module = pdoc.doc.Module.from_name(module_name)
    names = getattr(module.obj, "__all__", None)
    if names is None:
        return [f"{module_name}: has no __all__ (the check walks it)"]
    missing = []
    if not module.docstring.strip():
        missing.append(module_name)
    for name in names:
        d = module.get(name)
        if d is None:
            missing.append(f"{module_name}.{name}: in __all__ but not found")
            continue
        if not d.docstring.strip():
            missing.append(f"{module_name}.{name}")
        if isinstance(d, pdoc.doc.Class):
            for member in d.members.values():
                if member.name.startswith("_") or not member.taken_from[0].startswith("coord"):
                    continue
                if not member.docstring.strip() and not named_in_class_doc(d, member.name):
                    missing.append(f"{module_name}.{name}.{member.name}")
    return missing


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target" / "docs" / "python"
    problems: List[str] = []
    for m in MODULES:
        problems += [f"no docstring: {n}" for n in undocumented(m)]
    pdoc.render.configure(docformat="markdown", show_source=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=out)
    problems += [f"pdoc warns: {w.message}" for w in caught]
    if problems:
        for p in problems:
            print(f"build-docs.py: {p}", file=sys.stderr)
        return 1
    print(f"API page: {os.path.join(out, 'coord.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
