"""Discover answer modules (``answers/qNN_*.py``): one registry for the CLI, the site and the tests."""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Callable

import answers

from .question import Question

_MODULE = re.compile(r"^q\d{2}_[a-z0-9_]+$")


class UnknownQuestion(KeyError):
    """An id that no answer module declares."""

    def __init__(self, qid: str, known: list[str]):
        super().__init__(qid)
        self.qid, self.known = qid, known

    def __str__(self) -> str:
        return f"unknown question {self.qid!r}; choose one of: {', '.join(self.known) or '(none)'}"


@dataclass(frozen=True)
class Answer:
    question: Question
    module: ModuleType

    @property
    def run(self) -> Callable:
        return self.module.run

    @property
    def id(self) -> str:
        return self.question.id


@lru_cache(maxsize=1)
def _discover() -> tuple[Answer, ...]:
    found = []
    for info in pkgutil.iter_modules(answers.__path__):
        if not _MODULE.match(info.name):
            continue
        module = importlib.import_module(f"answers.{info.name}")
        q = getattr(module, "QUESTION", None)
        if not isinstance(q, Question):
            raise TypeError(f"answers.{info.name} must define QUESTION = Question(...)")
        if not callable(getattr(module, "run", None)):
            raise TypeError(f"answers.{info.name} must define run(profile, seed, device)")
        if not info.name.startswith(q.id + "_"):
            raise ValueError(f"answers.{info.name} declares id {q.id!r}; its file name must start with it")
        found.append(Answer(q, module))
    ids = [a.id for a in found]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"question ids used by more than one module: {sorted(dup)}")
    return tuple(sorted(found, key=lambda a: a.id))


def all_answers() -> list[Answer]:
    return list(_discover())


def ids() -> list[str]:
    return [a.id for a in _discover()]


def get(qid: str) -> Answer:
    for a in _discover():
        if a.id == qid:
            return a
    raise UnknownQuestion(qid, ids())
