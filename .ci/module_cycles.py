#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a cycle.

The layers in src/lib.rs (domain below transport below wiring) hold only if
imports go one way. Inside one crate the compiler allows cycles, so this
check does what a crate boundary would: it reads every `crate::<module>`
path outside comments and test modules, builds the graph of top-level
modules, and prints each strongly connected component with the files that
make its edges. Usage: module_cycles.py SRC_DIR [SRC_DIR...]; exit 1 on a
cycle.
"""

import collections
import os
import re
import sys


def sources(path):
    if os.path.isdir(path):
        for directory, _, files in os.walk(path):
            for name in sorted(files):
                if name.endswith(".rs"):
                    yield os.path.join(directory, name)
    elif os.path.exists(path + ".rs"):
        yield path + ".rs"


def strip(text):
    # Comments (doc links name modules too), then everything from the
    # first test module on: tests may import any layer.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.split(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)[0]


def used_modules(text):
    """Top-level modules named by `crate::…` paths, braces included."""
    names = set(re.findall(r"\bcrate::(\w+)", text))
    for group in re.finditer(r"\bcrate::\{", text):
        depth, i = 1, group.end()
        start = i
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        inner = text[start : i - 1]
        # First segment of each comma-separated path at nesting depth 0.
        depth, part = 0, ""
        for ch in inner + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                head = re.match(r"\s*(\w+)", part)
                if head:
                    names.add(head.group(1))
                part = ""
            else:
                part += ch
    return names


def graph(src):
    modules = sorted(
        name[:-3] if name.endswith(".rs") else name
        for name in os.listdir(src)
        if name not in ("lib.rs", "main.rs") and (name.endswith(".rs") or os.path.isdir(os.path.join(src, name)))
    )
    edges = collections.defaultdict(lambda: collections.defaultdict(set))
    for module in modules:
        for path in sources(os.path.join(src, module)):
            with open(path, encoding="utf-8") as f:
                text = strip(f.read())
            for target in used_modules(text):
                if target in modules and target != module:
                    edges[module][target].add(path)
    return modules, edges


def cycles(modules, edges):
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in modules:
        if v not in index:
            visit(v)
    return found


def main(dirs):
    failed = False
    for src in dirs:
        modules, edges = graph(src)
        found = cycles(modules, edges)
        if not found:
            print(f"{src}: {len(modules)} top-level modules, no import cycle")
        for component in found:
            failed = True
            print(f"{src}: import cycle between {', '.join(component)}:")
            for a in component:
                for b in component:
                    if b in edges[a]:
                        print(f"  {a} -> {b}  ({', '.join(sorted(edges[a][b]))})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src"]))
