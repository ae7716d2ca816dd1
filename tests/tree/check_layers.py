#!/usr/bin/env python3
"""The layers of the tree point one way: server/nn <- server/runtime <- server/api <-
server/http <- the server's main; client/ and server/ share only proto/ and common/, and common/
depends on neither. Checked on the project includes ("dir/...") of every tracked C++ file.
Standard library and git only.

usage: check_layers.py SOURCE_DIR
"""
import re
import subprocess
import sys

# (folder, include prefixes its files must not use, why)
RULES = [
    ("server/nn/", ("server/runtime/", "server/api/", "server/http/", "server/tools/"), "nn is the bottom layer"),
    ("server/runtime/", ("server/api/", "server/http/", "server/tools/"), "runtime sits below api and http"),
    ("server/api/", ("server/http/", "server/tools/"), "api sits below http"),
    ("server/", ("client/",), "server and client share only proto/ and common/"),
    ("client/", ("server/",), "server and client share only proto/ and common/"),
    ("common/", ("server/", "client/"), "common/ serves both sides and depends on neither"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    source = sys.argv[1]
    files = subprocess.run(["git", "-C", source, "ls-files", "-z", "*.cc", "*.h"], capture_output=True, check=True,
                           text=True).stdout.split("\0")
    files = [f for f in files if f]
    if not files:
        sys.exit(f"no C++ files found under {source} (not a git checkout?)")
    failures = []
    for name in files:
        with open(f"{source}/{name}", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                for folder, forbidden, why in RULES:
                    if name.startswith(folder) and m.group(1).startswith(forbidden):
                        failures.append(f"{name}:{number}: includes {m.group(1)} ({why})")
    for failure in failures:
        print(failure)
    if failures:
        sys.exit(1)
    print(f"{len(files)} C++ files keep the layers")


if __name__ == "__main__":
    main()
