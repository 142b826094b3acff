#!/usr/bin/env python3
"""Fails when the top-level modules of a workspace crate depend on each other in a circle.

An edge A -> B means a file under module A names `crate::B` (in a `use` or a path).
Within one crate the modules should form layers: a low-level module (errors, paging,
the job guard) never reaches back up to the report that uses it. This is the check the
hygiene gate runs (the equivalent of `cargo modules dependencies --acyclic`, at the
granularity at which the crates are layered), and it prints every cycle it finds.

Usage: scripts/module-cycles.py [CRATE_SRC_DIR ...]   (default: every workspace crate)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def workspace_crates() -> list[str]:
    """The `src` directory of every member of the workspace (Cargo.toml's `members`)."""
    import tomllib

    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    members = manifest["workspace"]["members"]
    return [str(pathlib.Path(member) / "src") for member in members if (ROOT / member / "src").is_dir()]

PATH_RE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP_RE = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
COMMENT_RE = re.compile(r"//[^\n]*")


def top_module(src: pathlib.Path, file: pathlib.Path) -> str | None:
    rel = file.relative_to(src)
    if len(rel.parts) == 1:
        stem = rel.stem
        return None if stem in ("lib", "main") else stem
    return rel.parts[0]


def crate_graph(src: pathlib.Path) -> dict[str, set[str]]:
    modules: set[str] = set()
    edges: dict[str, set[str]] = {}
    for file in sorted(src.rglob("*.rs")):
        module = top_module(src, file)
        if module is None:
            continue
        modules.add(module)
        text = COMMENT_RE.sub("", file.read_text(encoding="utf-8"))
        targets = set(PATH_RE.findall(text))
        for group in USE_GROUP_RE.findall(text):
            for item in re.split(r",", re.sub(r"\{[^{}]*\}", "", group)):
                name = item.strip().split("::")[0].strip()
                if re.fullmatch(r"[a-z_][a-z0-9_]*", name or ""):
                    targets.add(name)
        edges.setdefault(module, set()).update(t for t in targets if t != module)
    return {m: {t for t in ts if t in modules} for m, ts in edges.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def self_test() -> None:
    """The check finds a planted cycle (through a grouped `use`) and passes a layered crate."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp)
        (src / "lib.rs").write_text("pub mod a;\npub mod b;\npub mod c;\n")
        (src / "a.rs").write_text("use crate::b::Thing;\n")
        (src / "c.rs").write_text("// crate::a is only named in a comment\n")
        (src / "b").mkdir()
        (src / "b" / "mod.rs").write_text("pub struct Thing;\n")
        assert cycles(crate_graph(src)) == [], "a layered crate passes"
        (src / "b" / "inner.rs").write_text("use crate::{\n    a::Other,\n    c,\n};\n")
        assert cycles(crate_graph(src)) == [["a", "b"]], cycles(crate_graph(src))


def main() -> int:
    self_test()
    crates = sys.argv[1:] or workspace_crates()
    failed = False
    for crate in crates:
        src = ROOT / crate
        graph = crate_graph(src)
        for component in cycles(graph):
            failed = True
            print(f"{crate}: modules in a cycle: {', '.join(component)}")
            for module in component:
                inside = sorted(t for t in graph[module] if t in component)
                print(f"  {module} -> {', '.join(inside)}")
    if not failed:
        print(f"module-cycles: no cycle among the top-level modules of {len(crates)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
