"""Citations from the one ``references.bib`` (bibtexparser v2): parse, find ``[@key]`` / ``[@a; @b]`` in a
page, number them per page and render the reference text from the entry (never typed twice).

Any well-formed BibTeX loads: entries need a title, a year and someone responsible (author, else editor,
else organization or institution), so editor-only books and proceedings are fine; keys may hold the
punctuation large bibliographies use (``:``, ``.``, ``-``, ``+``, ``*``, ``/`` …); LaTeX accents and escapes are
decoded by bibtexparser's ``LatexDecodingMiddleware`` (URLs, DOIs and e-prints are left verbatim, where ``%``
is not a comment).

No mkdocs here: :mod:`answers.kb.mkdocs_plugin` wires these functions into the site build, and
``answers check`` uses them to verify keys."""
from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware

REQUIRED = ("title", "year")
RESPONSIBLE = ("author", "editor", "organization", "institution")  # the first present names the work
VERBATIM = ("url", "doi", "eprint", "file", "pdf")                   # never LaTeX-decoded
_KEY = r"[\w:.#$%&+?<>~/*\-]+"
# [@key] or [@a; @b]; the @ must open the bracket or follow "; " so e-mail addresses never match
CITE_RE = re.compile(r"\[@(" + _KEY + r")((?:\s*;\s*@" + _KEY + r")*)\]")
REFERENCES_HEADING = '<h2 id="references">参考文献 References</h2>'


class BibError(Exception):
    """references.bib cannot be used; the message is one line naming the file, line and problem."""


class UnknownKey(KeyError):
    """A citation names a key the .bib does not hold (raised by :func:`resolve` when ``strict``)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"unknown citation key {self.key!r}"


@dataclass(frozen=True)
class Reference:
    key: str
    entry_type: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


_VERBATIM_ESCAPES = {r"\&": "&", r"\%": "%", r"\_": "_", r"\$": "$", r"\#": "#", r"\~": "~"}


def _plain(value: str) -> str:
    """Field text for display: leftover grouping braces and runs of white space removed."""
    return re.sub(r"\s+", " ", value.replace("{", "").replace("}", "")).strip()


def _verbatim(value: str) -> str:
    """A URL-like field: only backslash escapes removed (``10.1000/a\\_b`` → ``10.1000/a_b``)."""
    for tex, char in _VERBATIM_ESCAPES.items():
        value = value.replace(tex, char)
    return "".join(value.replace("{", "").replace("}", "").split())


class _DecodeLatex(LatexDecodingMiddleware):
    """bibtexparser's LaTeX decoding for every field but the verbatim ones (a ``%`` in a URL is no comment)."""

    def transform_entry(self, entry, library):
        kept = {f.key: f.value for f in entry.fields if f.key.lower() in VERBATIM}
        out = super().transform_entry(entry, library)
        for f in entry.fields:
            if f.key in kept:
                f.value = kept[f.key]
        return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parse(path: Path, text: str):
    parser_log = logging.getLogger("bibtexparser")
    level = parser_log.level
    parser_log.setLevel(logging.CRITICAL)  # we report failed blocks ourselves, once and in one line
    try:
        return bibtexparser.parse_string(text, append_middleware=[_DecodeLatex()])
    except Exception as exc:  # a parser bug must still reach the user as one line, not a traceback
        raise BibError(f"{path}: cannot be parsed ({type(exc).__name__}: {_one_line(exc) or 'no detail'})") from None
    finally:
        parser_log.setLevel(level)


def _failure(block) -> str:
    error = getattr(block, "error", None)
    if type(block).__name__ == "DuplicateBlockKeyBlock":
        return f"duplicate key {block.key!r}"
    if type(block).__name__ == "DuplicateFieldKeyBlock":
        entry = getattr(block, "ignore_error_block", None)
        fields = ", ".join(sorted(getattr(block, "duplicate_keys", ()) or ())) or "a field"
        return f"entry {getattr(entry, 'key', '?')!r} repeats {fields}"
    reason = getattr(error, "abort_reason", None) or _one_line(error or "")
    head = _one_line((getattr(block, "raw", "") or "").split(",")[0])[:60]
    return f"cannot parse {head or 'block'!r}: {reason or 'syntax error'}"


def load_bib(path: str | Path) -> dict[str, Reference]:
    """Every entry of the .bib file by key; raises :class:`BibError` on anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise BibError(f"{path}: bibliography file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BibError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    library = _parse(path, text)
    for block in library.failed_blocks:
        line = (getattr(block, "start_line", None) or 0) + 1  # bibtexparser counts lines from 0
        raise BibError(f"{path}:{line}: {_failure(block)}")
    refs: dict[str, Reference] = {}
    for entry in library.entries:
        fields = {name.lower(): (_verbatim if name.lower() in VERBATIM else _plain)(str(f.value))
                  for name, f in entry.fields_dict.items()}
        missing = [f for f in REQUIRED if not fields.get(f)]
        if not any(fields.get(f) for f in RESPONSIBLE):
            missing.append(" or ".join(RESPONSIBLE))
        if missing:
            raise BibError(f"{path}:{entry.start_line + 1}: entry {entry.key!r} lacks {', '.join(missing)}")
        refs[entry.key] = Reference(entry.key, entry.entry_type.lower(), fields)
    return refs


_MD_CODE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]+`", re.S)


def find_keys(text: str) -> list[str]:
    """Citation keys in order of first appearance, ignoring Markdown code (which may show the syntax)."""
    keys: list[str] = []
    for match in CITE_RE.finditer(_MD_CODE.sub("", text)):
        for key in _keys_of(match):
            if key not in keys:
                keys.append(key)
    return keys


def _keys_of(match: re.Match) -> list[str]:
    rest = [k.strip().lstrip("@") for k in match.group(2).split(";") if k.strip()]
    return [match.group(1), *rest]


def _initials(first: str) -> str:
    # "Pin-Yu" -> "P.-Y."; words that start with no letter (e.g. "{\'E}" leftovers) are skipped
    words = []
    for word in first.split():
        parts = [p for p in word.split("-") if p and p[0].isalpha()]
        if parts:
            words.append("-".join(f"{p[0]}." for p in parts))
    return " ".join(words)


def author_names(raw: str) -> list[str]:
    """Authors as "A. Name", in order; "others" is dropped."""
    names = []
    for person in [p.strip() for p in re.split(r"\s+and\s+", raw) if p.strip()]:
        if person.lower() == "others":
            continue
        if "," in person:
            last, first = [s.strip() for s in person.split(",", 1)]
        else:
            parts = person.split()
            last, first = parts[-1], " ".join(parts[:-1])
        names.append(f"{_initials(first)} {last}".strip())
    return names


def _authors(raw: str) -> str:
    names = author_names(raw)
    if not names:
        return ""
    if len(names) > 6 or re.search(r"\band\s+others\s*$", raw, re.I):
        return f"{names[0]} et al."
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def _dashes(text: str) -> str:
    return text.replace("---", "—").replace("--", "–")


def _venue(ref: Reference) -> str:
    venue = ref.get("booktitle") or ref.get("journal") or ref.get("howpublished") or ref.get("publisher")
    if venue and ref.get("volume"):
        venue += f", vol. {ref.get('volume')}"
        if ref.get("number"):
            venue += f", no. {ref.get('number')}"
    return _dashes(venue)


def links(ref: Reference) -> list[tuple[str, str]]:
    """(label, URL) pairs: DOI, arXiv, then any other URL."""
    out = []
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", ref.get("doi"), flags=re.I)
    if doi:
        out.append(("DOI", "https://doi.org/" + doi))
    eprint = ref.get("eprint")
    if eprint and ref.get("archiveprefix", "arxiv").lower() == "arxiv":
        out.append(("arXiv", f"https://arxiv.org/abs/{eprint}"))
    url = ref.get("url")
    if url and all(url.rstrip("/") != u for _, u in out):
        out.append(("URL", url))
    return out


def format_reference(ref: Reference) -> str:
    """The entry as an HTML fragment: authors, “title”, venue, pages, year, and its links (all escaped)."""
    e = html.escape
    parts = [e(_responsible(ref)), f"“{e(_dashes(ref.get('title')))}”"]
    if _venue(ref):
        parts.append(f"<em>{e(_venue(ref))}</em>")
    if ref.get("pages"):
        parts.append(f"pp. {e(_dashes(ref.get('pages')))}")
    parts.append(e(ref.get("year")))
    text = ", ".join(p for p in parts if p) + "."
    anchors = " ".join(f'<a href="{e(url)}">{label}</a>' for label, url in links(ref))
    return f"{text} {anchors}".strip()


_SKIP = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>|<style\b.*?</style>|<script\b.*?</script>)", re.S | re.I)
# a references heading already closing the page (written by hand, or the page was resolved once already)
_TRAILING_HEADING = re.compile(r"<h2\b[^>]*>(?:(?!</h2>).)*(?:references|参考文献)(?:(?!</h2>).)*</h2>\s*$",
                               re.S | re.I)


def resolve(page_html: str, bib: dict[str, Reference], bib_page_url: str | None = None,
            strict: bool = False) -> tuple[str, list[str], list[str]]:
    """Replace citations in ``page_html`` by numbered links to a reference list appended to the page.

    Numbers follow the order of first citation on this page; ``[@a; @b]`` becomes ``[1, 2]``. Returns
    (new html, keys cited in order, unknown keys). Text inside ``<pre>``, ``<code>``, ``<style>`` and
    ``<script>`` is left alone (a page may show the syntax). Unknown keys stay visible as ``[?key]``, or raise
    :class:`UnknownKey` if ``strict``. Each list item links to ``{bib_page_url}#bib-<key>`` when a URL is given.
    """
    e = html.escape
    order: list[str] = []
    unknown: list[str] = []

    def number(match: re.Match) -> str:
        out = []
        for key in _keys_of(match):
            if key not in bib:
                if strict:
                    raise UnknownKey(key)
                if key not in unknown:
                    unknown.append(key)
                out.append(f'<span class="citation-unknown" title="unknown citation key">?{e(key)}</span>')
                continue
            if key not in order:
                order.append(key)
            n = order.index(key) + 1
            out.append(f'<a class="citation" href="#ref-{e(key)}" title="{e(bib[key].get("title"))}">{n}</a>')
        return "[" + ", ".join(out) + "]"

    pieces = _SKIP.split(page_html)
    for i in range(0, len(pieces), 2):  # even pieces lie outside <pre>/<code>/<style>/<script>
        pieces[i] = CITE_RE.sub(number, pieces[i])
    out = "".join(pieces)
    if order:
        items = "\n".join(f'<li id="ref-{e(k)}">{format_reference(bib[k])}{_bib_link(k, bib_page_url)}</li>'
                          for k in order)
        heading = "" if _TRAILING_HEADING.search(out) else REFERENCES_HEADING
        out = out.rstrip() + f'\n{heading}\n<ol class="references">\n{items}\n</ol>\n'
    return out, order, unknown


def _bib_link(key: str, bib_page_url: str | None) -> str:
    if bib_page_url is None:
        return ""
    href = html.escape(f"{bib_page_url}#bib-{key}")
    return f' <a class="bib-link" href="{href}" title="参考文献页 bibliography">↗</a>'


def _responsible(ref: Reference) -> str:
    """Authors; else editors marked (ed.)/(eds.); else the organization or institution."""
    if ref.get("author"):
        return _authors(ref.get("author"))
    if ref.get("editor"):
        return _authors(ref.get("editor")) + (" (eds.)" if len(author_names(ref.get("editor"))) > 1 else " (ed.)")
    return ref.get("organization") or ref.get("institution")


def sort_key(ref: Reference) -> tuple[str, str, str]:
    """First author's (else editor's or organization's) last name, then year, then key: the bibliography
    page's order."""
    first = re.split(r"\s+and\s+", next((ref.get(f) for f in RESPONSIBLE if ref.get(f)), ""))[0]
    last = first.split(",")[0] if "," in first else (first.split() or [""])[-1]
    return last.strip().lower(), ref.get("year"), ref.key
