"""``answers check``: verify the spine — every answer has a page and a test, every key cited by a page or by a
docstring of the lab and the answers is in references.bib, every bib entry is cited somewhere, every course-page
asker is answered or an open slot."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import course, registry, site
from .citations import BibError, find_keys, load_bib


def project_root() -> Path:
    """The checkout holding mkdocs.yml: ANSWERS_ROOT, else the nearest parent of the cwd or of the package."""
    if os.environ.get("ANSWERS_ROOT"):
        return Path(os.environ["ANSWERS_ROOT"])
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            if (d / "mkdocs.yml").is_file() and (d / "answers").is_dir():
                return d
    raise FileNotFoundError("no project checkout found (a folder with mkdocs.yml and answers/); "
                            "run from the repository or set ANSWERS_ROOT")


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expect(self, cond: bool, good: str, bad: str) -> None:
        (self.ok if cond else self.problems).append(good if cond else bad)


# what an answer may import of the package: the layers below it (the import direction of the rest is held by
# tests/test_import_direction.py)
ALLOWED_PACKAGES = ("answers.core", "answers.experiment", "answers.kb", "answers.lab")


def foreign_imports(path: Path) -> list[str]:
    """The ``answers.*`` modules an answer module imports outside ``answers.kb``, ``answers.lab``, ``answers.core``
    and ``answers.experiment`` (answers stay independent: a helper two answers need belongs in the lab). Read from
    the syntax tree, not by running it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ("answers" + ("." + node.module if node.module else "")) if node.level else (node.module or "")
            names = [base] if node.module or not node.level else [f"answers.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            allowed = any(name == p or name.startswith(p + ".") for p in ALLOWED_PACKAGES)
            if (name == "answers" or name.startswith("answers.")) and not allowed:
                found.append(name)
    return found


def run_checks(root: Path | None = None) -> Report:
    root = root or project_root()
    rep = Report()
    try:
        bib = load_bib(root / "references.bib")
    except BibError as exc:
        rep.problems.append(str(exc))
        return rep
    docs = root / "docs"
    pages = {p: p.read_text(encoding="utf-8") for p in sorted(docs.rglob("*")) if p.suffix in (".md", ".py", ".ipynb")}
    tests = {p.name: p.read_text(encoding="utf-8") for p in sorted((root / "tests").glob("test_*.py"))}
    cited: dict[str, set[str]] = {}
    for p, text in pages.items():
        if site.INDEX_MARKER in text:
            text += site.index_markdown()
        for key in find_keys(text):
            cited.setdefault(key, set()).add(str(p.relative_to(root)))
    # the lab's and the answers' docstrings cite the papers their code follows; those keys must exist too
    # (answers/kb is left out: it shows the citation syntax itself, e.g. [@key])
    code = [*sorted((root / "answers" / "lab").rglob("*.py")), *sorted((root / "answers").glob("q[0-9][0-9]_*.py"))]
    for p in code:
        for key in find_keys(p.read_text(encoding="utf-8")):
            cited.setdefault(key, set()).add(str(p.relative_to(root)))

    from .scaffold import course_file
    data = course.load(course_file(root))
    for a in registry.all_answers():
        q = a.question
        page = docs / q.page
        rep.expect(page.is_file(), f"{q.id}: page docs/{q.page}", f"{q.id}: missing page docs/{q.page} "
                   "(see docs/contributing.md)")
        if page.is_file():
            runs = f'page_result("{q.id}")' in pages[page] or a.module.__name__ in pages[page]
            rep.expect(runs, f"{q.id}: page runs {a.module.__name__}",
                       f'{q.id}: docs/{q.page} never runs its answer: call page_result("{q.id}") '
                       f"(answers.kb.page) or import {a.module.__name__}")
        named = [n for n in tests if n.startswith(f"test_{q.id}")]
        rep.expect(bool(named), f"{q.id}: tests/{named[0] if named else ''}",
                   f"{q.id}: no tests/test_{q.id}_*.py asserting its claims")
        module_file = root / "answers" / f"{a.module.__name__.rsplit('.', 1)[-1]}.py"
        if module_file.is_file():
            foreign = foreign_imports(module_file)
            rep.expect(not foreign, f"{q.id}: imports only answers.kb, .lab, .core and .experiment",
                       f"{q.id}: answers/{module_file.name} imports {', '.join(sorted(set(foreign)))}: answers stay "
                       "independent (move what they share into answers/lab)")
        unknown = [k for k in q.cites if k not in bib]
        rep.expect(not unknown, f"{q.id}: {len(q.cites)} cited keys in references.bib",
                   f"{q.id}: QUESTION.cites has keys missing from references.bib: {', '.join(unknown)}")
        on_course = [e for e in data.entries if e.qid == q.id]
        rep.expect(bool(on_course) and on_course[0].asker == q.asker, f"{q.id}: on the course page ({q.asker})",
                   f"{q.id}: asker {q.asker!r} does not match the course page entry for {q.id} in "
                   "answers/kb/course.json ('answers new' writes it)")

    unknown = sorted(k for k in cited if k not in bib)
    rep.expect(not unknown, "every key cited on a page is in references.bib",
               "keys cited but missing from references.bib: " + ", ".join(
                   f"{k} ({', '.join(sorted(cited[k]))})" for k in unknown))
    uncited = sorted(k for k in bib if k not in cited)
    rep.expect(not uncited, f"all {len(bib)} references.bib entries are cited by a page or the lab",
               "references.bib entries no page or lab docstring cites: " + ", ".join(uncited))
    answered = set(registry.ids())
    slots = data.open_slots()
    pending = [e.qid for e in data.questions() if e.qid not in answered]
    rep.ok.append(f"course page: {len(data.questions())} questions ({len(answered)} answered, "
                  f"{len(pending)} shown as not yet: {', '.join(pending) or '-'}), {len(slots)} open slots")
    index = docs / "index.md"
    rep.expect(index.is_file() and site.INDEX_MARKER in index.read_text(encoding="utf-8"),
               "docs/index.md shows the generated course table",
               f"docs/index.md must contain {site.INDEX_MARKER} so every asker is listed")
    return rep
