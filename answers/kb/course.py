"""The course page the project starts from (智能产业研究院, 图像识别的攻击与防御), kept as data in
``course.json`` beside this module.

Each :class:`Entry` is one line of the page: an asker in a section, with the question they asked (if the page
records one), the id our answer uses, and the bib keys the TA's answer cited. The home page, ``answers check``
and the open-slot list are all generated from this one list; ``answers new`` fills an open slot by writing the
file (:func:`claim`), so nobody edits code to add a question.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATA_FILE = Path(__file__).with_name("course.json")
#: the section a question from an asker the course page does not list goes to
BEYOND_THE_PAGE = "课程页之外"


@dataclass(frozen=True)
class Entry:
    section: str
    asker: str
    qid: str | None = None          # our answer's id, when the page records a question
    question: str | None = None     # the question as the course page words it
    ta_cites: tuple[str, ...] = ()  # bib keys the TA's answer cited


@dataclass(frozen=True)
class Course:
    title: str
    institute: str
    advisor: str
    student: str
    sections: tuple[str, ...]
    self_chosen_note: str           # the course page's own note under 大闭环自选
    entries: tuple[Entry, ...] = field(default_factory=tuple)

    def questions(self) -> list[Entry]:
        """Entries that carry a question, in course-page order."""
        return [e for e in self.entries if e.qid]

    def open_slots(self) -> list[Entry]:
        """Askers the page lists without a question: open slots for new contributions."""
        return [e for e in self.entries if not e.qid]

    def entry(self, qid: str) -> Entry:
        for e in self.entries:
            if e.qid == qid:
                return e
        raise KeyError(qid)


def load(path: str | Path = DATA_FILE) -> Course:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = tuple(Entry(e["section"], e["asker"], e.get("qid"), e.get("question"), tuple(e.get("ta_cites", ())))
                    for e in raw["entries"])
    return Course(raw["title"], raw["institute"], raw["advisor"], raw["student"], tuple(raw["sections"]),
                  raw["self_chosen_note"], entries)


def save(c: Course, path: str | Path = DATA_FILE) -> None:
    """Write ``c`` atomically (a reader sees the old file or the new one)."""
    path = Path(path)
    data = {"title": c.title, "institute": c.institute, "advisor": c.advisor, "student": c.student,
            "sections": list(c.sections), "self_chosen_note": c.self_chosen_note,
            "entries": [{**asdict(e), "ta_cites": list(e.ta_cites)} for e in c.entries]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    os.replace(tmp, path)


def claim(c: Course, qid: str, asker: str, question: str) -> tuple[Course, Entry]:
    """The course with ``asker``'s first open slot given ``qid`` and ``question`` — or, for an asker the page
    does not list, a new entry in section :data:`BEYOND_THE_PAGE`. Refuses an id already on the page."""
    if any(e.qid == qid for e in c.entries):
        raise ValueError(f"{qid} is already on the course page")
    entries, sections = list(c.entries), c.sections
    slot = next((i for i, e in enumerate(entries) if e.qid is None and e.asker == asker), None)
    if slot is None:
        new = Entry(BEYOND_THE_PAGE, asker, qid, question)
        entries.append(new)
        sections = sections if BEYOND_THE_PAGE in sections else (*sections, BEYOND_THE_PAGE)
    else:
        new = Entry(entries[slot].section, asker, qid, question)
        entries[slot] = new
    return Course(c.title, c.institute, c.advisor, c.student, sections, c.self_chosen_note, tuple(entries)), new


COURSE = load()
# the names the rest of the package reads
TITLE, INSTITUTE, ADVISOR, STUDENT = COURSE.title, COURSE.institute, COURSE.advisor, COURSE.student
SECTIONS, ENTRIES, SELF_CHOSEN_NOTE = COURSE.sections, COURSE.entries, COURSE.self_chosen_note


def questions() -> list[Entry]:
    return COURSE.questions()


def open_slots() -> list[Entry]:
    return COURSE.open_slots()


def entry(qid: str) -> Entry:
    return COURSE.entry(qid)
