#!/usr/bin/env python3
"""Keeps the README's code snippets identical to the files that tests run.

A snippet in README.md is a fenced block right after a marker line

    <!-- snippet: bindings/python/examples/getting_started.py -->

and must hold that file's text verbatim (each file is run by a test of its
language's suite).

    scripts/readme-snippets.py --check   # fail if a snippet differs
    scripts/readme-snippets.py --write   # copy the files into the README
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r"^<!-- snippet: (\S+) -->\n```(\w*)\n(.*?)^```\n", re.M | re.S)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    if mode not in ("--check", "--write"):
        sys.exit(__doc__)
    path = os.path.join(ROOT, "README.md")
    with open(path) as fh:
        readme = fh.read()
    stale = []

    def fill(m: "re.Match[str]") -> str:
        with open(os.path.join(ROOT, m.group(1))) as fh:
            text = fh.read()
        if not text.endswith("\n"):
            text += "\n"
        if m.group(3) != text:
            stale.append(m.group(1))
        return f"<!-- snippet: {m.group(1)} -->\n```{m.group(2)}\n{text}```\n"

    new, count = MARK.subn(fill, readme)
    if count == 0:
        sys.exit("readme-snippets: README.md has no snippet markers")
    if mode == "--write":
        with open(path, "w") as fh:
            fh.write(new)
        print(f"readme-snippets: {count} snippets written ({len(stale)} changed)")
    elif stale:
        sys.exit("readme-snippets: README.md's copy differs from: " + ", ".join(stale)
                 + " (run scripts/readme-snippets.py --write)")
    else:
        print(f"readme-snippets: {count} snippets match their files")


if __name__ == "__main__":
    main()
