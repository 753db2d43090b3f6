#!/usr/bin/env python3
"""Which module of `src/` uses which, and the import loops among them.

    scripts/import-graph.py            # modules (src/<name> or src/<name>/) and their loops
    scripts/import-graph.py --files    # the same per file, the level #18 measured
    scripts/import-graph.py --check    # exit 1 if any loop exists (scripts/test.sh runs this)

A module uses another when its code names `crate::<other>` (in a `use` or in a path) or, inside
a folder, `super::<sibling>`. A loop is a strongly connected component with more than one member:
every member reaches every other, so none can be read, tested or moved on its own.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
SUPER_PATH = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def file_node(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts) or "lib"


def module_of(node: str, level_files: bool, known: set[str]) -> str:
    if level_files:
        return node
    return node.split("::")[0]


def edges(level_files: bool) -> dict[str, set[str]]:
    files = {file_node(p): p for p in SRC.rglob("*.rs")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for node, path in files.items():
        if node in ("lib", "main"):
            continue
        text = strip_comments(path.read_text())
        targets: set[str] = set()
        for head, second in CRATE_PATH.findall(text):
            targets.add(f"{head}::{second}" if f"{head}::{second}" in known else head)
        for group in USE_GROUP.findall(text):
            for item in re.split(r",(?![^{]*\})", group):
                item = item.strip()
                if not item:
                    continue
                head, _, rest = item.partition("::")
                second = re.match(r"([a-z_][a-z0-9_]*)", rest or "")
                name = f"{head}::{second.group(1)}" if second else head
                targets.add(name if name in known else head)
        parent = node.rsplit("::", 1)[0] if "::" in node else None
        for sibling in SUPER_PATH.findall(text):
            if parent and f"{parent}::{sibling}" in known:
                targets.add(f"{parent}::{sibling}")
            elif parent:
                targets.add(parent)
        source = module_of(node, level_files, known)
        for t in targets:
            target = module_of(t, level_files, known)
            if target != source and target.split("::")[0] in {k.split("::")[0] for k in known}:
                graph.setdefault(source, set()).add(target)
        graph.setdefault(source, set())
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, the ones with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", action="store_true", help="one node per file, not per module")
    parser.add_argument("--check", action="store_true", help="print only loops, at both levels; exit 1 if any")
    args = parser.parse_args()
    if args.check:
        found = loops(edges(False)) + loops(edges(True))
        for component in found:
            print(f"import loop ({len(component)}): {' <-> '.join(component)}")
        print("import loops: none" if not found else "break the loop: move what both sides need into a module neither imports")
        return 1 if found else 0
    graph = edges(args.files)
    for source in sorted(graph):
        print(f"{source} -> {', '.join(sorted(graph[source])) or '(nothing)'}")
    found = loops(graph)
    print()
    if not found:
        print("import loops: none")
    for component in found:
        print(f"import loop ({len(component)}): {' ↔ '.join(component)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
