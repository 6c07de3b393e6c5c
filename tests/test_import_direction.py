"""One direction of imports (issue 20, point 5), read from every module's syntax tree, not by running it:

    answers.core                      checked file I/O, process ranks: imports nothing else of ``answers``
    answers.kb, answers.lab           each imports only itself and core — never each other
    answers.experiment, answers.cli   above both, beside the answers
    answers.qNN_*                     the answers (that they never import each other is ``answers check``'s rule,
                                      answers.kb.check.foreign_imports, tested in tests/test_kb.py)

Every import statement counts — at module level, inside a function or under ``if TYPE_CHECKING`` — absolute or
relative, and so does ``importlib.import_module`` with a constant name. And no module of the package may reach
itself again through its imports: a circle is reported with the line of every import in it."""
from __future__ import annotations

import graphlib
import textwrap
from pathlib import Path

import pytest

from answers.core.source import Graph, import_graph

PACKAGE = Path(__file__).resolve().parents[1] / "answers"

# layer -> the layers it may import (besides the package's empty root, ``answers`` itself)
MAY_IMPORT = {
    "core": {"core"},
    "kb": {"core", "kb"},
    "lab": {"core", "lab"},
    "experiment": {"core", "kb", "lab"},
    "cli": {"core", "kb", "lab", "experiment"},
    "answer": {"core", "kb", "lab", "experiment"},
    "main": {"cli"},
    "root": set(),
}


def layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in ("core", "kb", "lab", "experiment", "cli"):
        return parts[1]
    if parts[1] == "__main__":
        return "main"
    return "answer"


def wrong_way(graph: Graph, files: dict[str, Path], package: Path = PACKAGE) -> list[str]:
    """Every import against the direction, one line each: where it is, and which layer imports which."""
    out = []
    for name, targets in sorted(graph.items()):
        for target, line in sorted(targets.items()):
            if layer(target) != "root" and layer(target) not in MAY_IMPORT[layer(name)]:
                where = files[name].relative_to(package.parent).as_posix()
                out.append(f"{where}:{line}: {name} ({layer(name)}) imports {target} ({layer(target)})")
    return out


def cycles(graph: Graph, limit: int = 20) -> list[list[str]]:
    """Circles of imports, each as [a, b, ..., a] where each module imports the next; one per broken edge, so
    every circle shows up (up to ``limit``) even where several share modules."""
    edges = {name: set(targets) for name, targets in graph.items()}
    found = []
    while len(found) < limit:
        try:
            graphlib.TopologicalSorter(edges).prepare()
            break
        except graphlib.CycleError as err:
            circle = list(reversed(err.args[1]))   # graphlib lists dependencies first: a importer follows
            found.append(circle)
            edges[circle[0]].discard(circle[1])
    return found


def describe(circle: list[str], graph: Graph) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(circle, circle[1:])) + f" -> {circle[-1]}"


def test_imports_go_one_way():
    graph, files = import_graph()
    assert {"answers.core.files", "answers.core.ranks", "answers.experiment", "answers.cli"} <= set(graph)
    bad = wrong_way(graph, files)
    assert not bad, ("imports against the direction core < kb, lab < experiment, cli, answers "
                     "(tests/test_import_direction.py):\n" + "\n".join(bad))


def test_no_module_reaches_itself_through_its_imports():
    graph, _ = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(c, graph) for c in found)


def test_the_graph_sees_function_level_and_relative_imports():
    graph, _ = import_graph()
    # answers.cli imports these only inside functions; answers.lab.cache imports core relatively (..core)
    assert {"answers.kb.registry", "answers.kb.result_cache", "answers.lab.data"} <= set(graph["answers.cli"])
    assert {"answers.core.files", "answers.core.ranks"} <= set(graph["answers.lab.cache"])
    assert "answers.lab.launch" in graph["answers.q06_adversarial_training_cost"]


# ---------------------------------------------------------------- the checks catch what they are for
_PLANTED = {
    "__init__.py": "",
    "core/__init__.py": "",
    "core/files.py": "def f():\n    from ..kb import result\n",                       # core importing kb
    "kb/__init__.py": "",
    "kb/result.py": "from ..core import ranks\n",
    "core/ranks.py": "",
    "kb/result_cache.py": "def g():\n    import answers.lab.cache\n    return answers.lab.cache\n",  # kb -> lab in a function
    "kb/registry.py": "import importlib\nM = importlib.import_module('answers.experiment')\n",  # kb -> above it
    "lab/__init__.py": "",
    "lab/cache.py": "from . import distributed\n",                                 # a lab circle:
    "lab/distributed.py": "def h():\n    from .train import fit\n",               # cache -> distributed -> train
    "lab/train.py": "from .cache import get\nfrom ..kb.result import Result\n",     # -> cache; and lab -> kb
    "experiment.py": "from .kb.result import Result\nfrom .lab import cache\n",
    "cli.py": "from .kb import result_cache\nfrom . import experiment\n",
    "q01_x.py": "from .experiment import E\nfrom .lab import cache\nfrom .cli import main\n",  # answer -> cli
}


def test_a_planted_wrong_way_import_or_circle_is_reported(tmp_path):
    for rel, code in _PLANTED.items():
        (tmp_path / "answers" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "answers" / rel).write_text(textwrap.dedent(code), encoding="utf-8")
    graph, files = import_graph(tmp_path / "answers")
    bad = wrong_way(graph, files, tmp_path / "answers")
    assert [line.split(": ", 1)[1] for line in bad] == [
        "answers.core.files (core) imports answers.kb.result (kb)",
        "answers.kb.registry (kb) imports answers.experiment (experiment)",
        "answers.kb.result_cache (kb) imports answers.lab.cache (lab)",
        "answers.lab.train (lab) imports answers.kb.result (kb)",
        "answers.q01_x (answer) imports answers.cli (cli)",
    ], bad
    assert bad[0].startswith("answers/core/files.py:2: ")
    (circle,) = cycles(graph)
    assert set(circle) == {"answers.lab.cache", "answers.lab.distributed", "answers.lab.train"}
    assert circle[0] == circle[-1] and len(circle) == 4
    assert "answers.lab.distributed (line 2) -> answers.lab.train" in describe(circle, graph)


@pytest.mark.parametrize("code", ["from ..lab import zoo", "from answers.lab.zoo import THREAT", "import answers.lab",
                                  "from answers import lab", "from .. import lab"])
def test_every_spelling_of_kb_importing_lab_is_seen(tmp_path, code):
    for rel, text in {"__init__.py": "", "kb/__init__.py": "", "lab/__init__.py": "", "lab/zoo.py": "",
                      "kb/site.py": f"def nav():\n    {code}\n"}.items():
        (tmp_path / "answers" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "answers" / rel).write_text(text, encoding="utf-8")
    graph, files = import_graph(tmp_path / "answers")
    assert len(wrong_way(graph, files, tmp_path / "answers")) == 1


def test_the_graph_is_read_again_after_a_file_changes(tmp_path):
    """import_graph remembers the last graph of a package (a build asks per answer), but never a stale one."""
    for rel, text in {"__init__.py": "", "kb/__init__.py": "", "kb/a.py": "", "kb/b.py": ""}.items():
        (tmp_path / "answers" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "answers" / rel).write_text(text, encoding="utf-8")
    graph, _ = import_graph(tmp_path / "answers")
    assert graph["answers.kb.a"] == {}
    (tmp_path / "answers" / "kb" / "a.py").write_text("from . import b\n", encoding="utf-8")
    graph, _ = import_graph(tmp_path / "answers")
    assert graph["answers.kb.a"] == {"answers.kb.b": 1}
    (tmp_path / "answers" / "kb" / "c.py").write_text("from .a import x\n", encoding="utf-8")
    graph, _ = import_graph(tmp_path / "answers")
    assert graph["answers.kb.c"] == {"answers.kb.a": 1}
