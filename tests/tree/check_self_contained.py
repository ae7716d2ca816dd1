#!/usr/bin/env python3
"""The repository is self-contained: no tracked file cites a document that lives outside it
(the facts it relies on are in docs/reference.md) or an absolute path of the machine it was
written on. Standard library and git only.

usage: check_self_contained.py SOURCE_DIR
"""
import re
import subprocess
import sys

# Each pattern names something a reader of the repository alone cannot open.
FORBIDDEN = [
    (re.compile(r"REFERENCE(\.md|\s*§)"), "cites a reference document outside the repository (use docs/reference.md)"),
    (re.compile(r"\.\./shared\b"), "points outside the repository"),
    (re.compile(r"(?<![\w.])/(work|root|home)/[\w.-]+"), "names an absolute path of a machine"),
]


def main():
    source = sys.argv[1]
    files = subprocess.run(["git", "-C", source, "ls-files", "-z"], capture_output=True, check=True,
                           text=True).stdout.split("\0")
    failures = []
    for name in files:
        if not name or name == "tests/tree/check_self_contained.py":
            continue
        try:
            with open(f"{source}/{name}", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (models, images) and deleted-but-staged paths
        for number, line in enumerate(lines, 1):
            for pattern, why in FORBIDDEN:
                if pattern.search(line):
                    failures.append(f"{name}:{number}: {why}: {line.strip()[:120]}")
    for failure in failures:
        print("FAIL:", failure)
    print(f"checked {len(files)} tracked files: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
