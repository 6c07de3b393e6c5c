"""What an answer's code is, read from the source without running it: the syntax tree without docstrings,
comments or formatting (:func:`code_only`, the weight cache's and the result cache's notion of "the code changed"),
and the package's import graph (:func:`import_graph`: every import statement, at module level or inside a function,
absolute or relative, and ``importlib.import_module`` with a constant name). The result cache keys an answer on the
modules it reaches (:func:`reached`) and the versions of the libraries it runs on (:func:`library_versions`);
tests/test_import_direction.py holds the graph to one direction."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]   # answers/

Graph = dict[str, dict[str, int]]   # module -> {module it imports: line of the first such import}

#: the libraries whose versions an answer's numbers depend on: kernels and models, transforms, statistics
LIBRARIES = ("torch", "torchvision", "kornia", "scipy")


def library_versions(libraries: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """The installed version of each of ``libraries`` ("-" where one is missing): the other half, beside the code,
    of what a stored result or a stored model was computed with."""
    from importlib import metadata
    versions = {}
    for lib in libraries:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "-"
    return versions


@functools.lru_cache(maxsize=512)
def code_only(source: str) -> str:
    """The source's syntax tree, dumped without docstrings, comments, formatting or line numbers."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> dict[str, int]:
    """The package's modules that ``path`` (module ``name``) imports, each with the line of its first import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in modules:    # answers.lab.zoo.THREAT -> answers.lab.zoo
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "answers":
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "answers":
                continue
            for alias in node.names:   # from answers.lab import zoo: the module zoo; from .zoo import X: zoo
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, node.lineno)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and node.args[0].value.split(".")[0] == "answers"
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            add(node.args[0].value, node.lineno)
    return found


def import_graph(package: Path = PACKAGE) -> tuple[Graph, dict[str, Path]]:
    """Every module of ``package`` with the package's modules it imports, and every module's file. Read again
    only when a file was added, removed or changed since the last call (a site build asks for it per answer)."""
    files = {module_name(p, package): p for p in sorted(package.rglob("*.py")) if "__pycache__" not in p.parts}
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files.values())
    known = _graphs.get(package)
    if known is None or known[0] != stamp:
        known = _graphs[package] = (stamp, {name: imports_of(path, name, set(files)) for name, path in files.items()})
    return {name: dict(targets) for name, targets in known[1].items()}, files


_graphs: dict[Path, tuple[tuple, Graph]] = {}


def reached(name: str, package: Path = PACKAGE) -> dict[str, Path]:
    """The package's modules that importing ``name`` can run, ``name`` included, each with its file: those it
    imports, directly or through others (imports inside functions count: they run when the function does), and
    the ``__init__`` of every package on the way. Sorted by name; empty for a module outside the package."""
    graph, files = import_graph(package)
    seen, todo = set(), [name]
    while todo:
        module = todo.pop()
        if module in seen or module not in graph:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]   # answers, answers.lab, ...
        todo += list(graph[module])
    return {m: files[m] for m in sorted(seen)}
