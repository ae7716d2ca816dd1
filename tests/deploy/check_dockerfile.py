#!/usr/bin/python3
"""Static checks of the Dockerfile and .dockerignore that need no container engine.

- every COPY source from the build context exists, holds files tracked by git (a clean clone
  has it too) and is not excluded by .dockerignore;
- the build stage installs only packages that scripts/setup.sh installs (one package list);
- the default (last) stage is `runtime`, runs as a non-root user, exposes 8001 and 8002, has a
  HEALTHCHECK and installs no compiler;
- .dockerignore keeps build trees, reports and .git out of the context.
The real build and run is scripts/deploy-check.sh.

Usage: check_dockerfile.py REPO_ROOT
"""
import fnmatch
import os
import re
import shlex
import subprocess
import sys


def logical_lines(text):
    """Dockerfile lines with continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def stages(lines):
    """[(name, [instructions])] in file order."""
    result = []
    for line in lines:
        instruction = line.split(None, 1)[0].upper()
        if instruction == "FROM":
            words = line.split()
            name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else words[1]
            result.append((name, []))
        elif result:
            result[-1][1].append(line)
    return result


def setup_packages(root):
    text = open(os.path.join(root, "scripts/setup.sh")).read()
    # Every package array (job_packages, test_packages): the union is what setup.sh can install.
    words = []
    for body in re.findall(r"^\w*packages=\((.*?)\n\)", text, re.S | re.M):
        for line in body.splitlines():
            words += line.split("#", 1)[0].split()
    return set(words)


def apt_packages(instructions):
    packages = []
    for line in instructions:
        if not line.upper().startswith("RUN"):
            continue
        for command in re.split(r"&&|;", line[3:]):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                packages += [w for w in words[words.index("install") + 1:]
                             if not w.startswith("-")]
    return packages


def ignored(path, patterns):
    # Docker's rules, reduced to what this repository uses: a pattern matches the path or one of
    # its parent folders; "**/" matches at any depth.
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        p = pattern.strip("/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, p) or (p.startswith("**/") and
                                               fnmatch.fnmatch(prefix.split("/")[-1], p[3:])):
                return True
    return False


def main():
    root = sys.argv[1]
    failures = []
    lines = logical_lines(open(os.path.join(root, "Dockerfile")).read())
    patterns = [l.strip() for l in open(os.path.join(root, ".dockerignore"))
                if l.strip() and not l.startswith("#")]
    all_stages = stages(lines)
    git = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True)
    tracked = git.stdout.splitlines() if git.returncode == 0 else None
    names = [n for n, _ in all_stages]
    print("stages:", ", ".join(names))

    for name, instructions in all_stages:
        for line in instructions:
            words = line.split()
            if words[0].upper() != "COPY" or any(w.startswith("--from=") for w in words):
                continue
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            for src in sources:
                if not os.path.exists(os.path.join(root, src)):
                    failures.append(f"{name}: COPY source {src} does not exist")
                elif tracked is not None and not any(
                        t == src.rstrip("/") or t.startswith(src.rstrip("/") + "/")
                        for t in tracked):
                    # An empty or untracked folder exists here but not in a clean clone.
                    failures.append(f"{name}: COPY source {src} has no file tracked by git")
                elif ignored(src, patterns):
                    failures.append(f"{name}: COPY source {src} is excluded by .dockerignore")

    known = setup_packages(root)
    build_deps = dict(all_stages).get("build-deps", [])
    for pkg in apt_packages(build_deps):
        if pkg not in known:
            failures.append(f"build-deps installs {pkg}, which scripts/setup.sh does not")

    final_name, final = all_stages[-1]
    if final_name != "runtime":
        failures.append(f"the default (last) stage is {final_name}, expected runtime")
    user = [l.split()[1] for l in final if l.upper().startswith("USER")]
    if not user or user[-1].split(":")[0] in ("0", "root"):
        failures.append("runtime must end with a non-root USER")
    exposed = {w for l in final if l.upper().startswith("EXPOSE") for w in l.split()[1:]}
    if not {"8000", "8001", "8002"} <= exposed:
        failures.append(f"runtime must EXPOSE 8000, 8001 and 8002 (REST, gRPC, metrics), has {sorted(exposed)}")
    if not any(l.upper().startswith("HEALTHCHECK CMD") or l.upper().startswith("HEALTHCHECK --")
               for l in final):
        failures.append("runtime has no HEALTHCHECK")
    runtime_chain = [final_name]
    by_name = dict(all_stages)
    # Walk FROM <stage> links of the final stage to collect every apt install it inherits.
    parents = {}
    for line in lines:
        words = line.split()
        if words[0].upper() == "FROM" and len(words) >= 4:
            parents[words[3]] = words[1]
    while parents.get(runtime_chain[-1]) in by_name:
        runtime_chain.append(parents[runtime_chain[-1]])
    compilers = {"build-essential", "gcc", "g++", "clang", "cmake", "ninja-build"}
    for stage in runtime_chain:
        bad = [p for p in apt_packages(by_name[stage]) if p in compilers or p.endswith("-dev")]
        if bad:
            failures.append(f"{stage} (part of the runtime image) installs {bad}")
    print("runtime image stages:", " <- ".join(runtime_chain))

    for path in ("build", "report", ".git"):
        if not ignored(path, patterns):
            failures.append(f".dockerignore does not exclude {path}/")

    for f in failures:
        print("FAIL", f)
    if failures:
        return 1
    print("Dockerfile and .dockerignore checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
