"""Metadata every answer module declares as ``QUESTION``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PROFILES = ("tiny", "site", "full")
ID_PATTERN = re.compile(r"^q\d{2}$")  # qNN, shared with the scaffolding


@dataclass(frozen=True)
class Question:
    """One student question of the course page and how its answer is run.

    ``id`` is ``qNN``; ``slug`` names the page (``docs/qNN-slug.py``); ``section`` and ``asker`` tie it to the
    course page (see :mod:`answers.kb.course`); ``cites`` lists the bib keys the answer rests on.
    """

    id: str
    slug: str
    asker: str
    section: str
    question_zh: str
    title_en: str
    title_zh: str
    cites: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"question id {self.id!r} must look like q01")
        if not re.match(r"^[a-z0-9-]+$", self.slug):
            raise ValueError(f"slug {self.slug!r} must be lower-case words joined by '-'")

    @property
    def page(self) -> str:
        """Path of the page under docs/."""
        return f"{self.id}-{self.slug}.py"

    @property
    def page_url(self) -> str:
        return f"{self.id}-{self.slug}/"
