"""Citations from the one ``references.bib`` (bibtexparser v2): parse, find ``[@key]`` / ``[@a; @b]`` in a
page, number them per page and render the reference text from the entry (never typed twice).

No mkdocs here: :mod:`answers.kb.mkdocs_plugin` wires these functions into the site build, and
``answers check`` uses them to verify keys."""
from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser

REQUIRED = ("author", "title", "year")
_KEY = r"[A-Za-z0-9_:.\-]+"
# [@key] or [@a; @b]; the @ must open the bracket or follow "; " so e-mail addresses never match
CITE_RE = re.compile(r"\[@(" + _KEY + r")((?:\s*;\s*@" + _KEY + r")*)\]")


class BibError(Exception):
    """references.bib cannot be used; the message is one line naming the file, line and problem."""


@dataclass(frozen=True)
class Reference:
    key: str
    entry_type: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def _plain(value: str) -> str:
    """Field text for display: BibTeX grouping braces and doubled spaces removed."""
    return re.sub(r"\s+", " ", value.replace("{", "").replace("}", "")).strip()


def load_bib(path: str | Path) -> dict[str, Reference]:
    """Every entry of the .bib file by key; raises :class:`BibError` on anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise BibError(f"{path}: bibliography file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BibError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    parser_log = logging.getLogger("bibtexparser")
    level, parser_log.level = parser_log.level, logging.CRITICAL  # we report failed blocks ourselves, once
    try:
        library = bibtexparser.parse_string(text)
    finally:
        parser_log.setLevel(level)
    for block in library.failed_blocks:
        line = getattr(block, "start_line", 0) + 1
        key = getattr(block, "key", None)
        details = [ln.strip() for ln in str(getattr(block, "error", "") or "").splitlines() if ln.strip()]
        problem = f"duplicate key {key!r}" if key else (details[-1] if details else "cannot be parsed")
        raise BibError(f"{path}:{line}: {problem}")
    refs: dict[str, Reference] = {}
    for entry in library.entries:
        fields = {name.lower(): _plain(f.value) for name, f in entry.fields_dict.items()}
        missing = [f for f in REQUIRED if not fields.get(f)]
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


def _authors(raw: str) -> str:
    names = []
    for person in [p.strip() for p in re.split(r"\s+and\s+", raw) if p.strip()]:
        if person.lower() == "others":
            continue
        if "," in person:
            last, first = [s.strip() for s in person.split(",", 1)]
        else:
            parts = person.split()
            last, first = parts[-1], " ".join(parts[:-1])
        initials = " ".join(f"{w[0]}." for w in re.split(r"[\s]+", first) if w and w[0].isalpha())
        initials = initials.replace(". -", ".-")
        names.append(f"{initials} {last}".strip())
    if len(names) > 6 or "others" in raw.lower().split():
        return f"{names[0]} et al."
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def _venue(ref: Reference) -> str:
    venue = ref.get("booktitle") or ref.get("journal") or ref.get("howpublished") or ref.get("publisher")
    if ref.get("volume") and ref.get("journal"):
        venue += f", vol. {ref.get('volume')}"
        if ref.get("number"):
            venue += f", no. {ref.get('number')}"
    return venue


def links(ref: Reference) -> list[tuple[str, str]]:
    """(label, URL) pairs: DOI, arXiv, then any other URL."""
    out = []
    if ref.get("doi"):
        out.append(("DOI", "https://doi.org/" + ref.get("doi")))
    eprint = ref.get("eprint")
    if eprint and ref.get("archiveprefix", "arxiv").lower() == "arxiv":
        out.append(("arXiv", f"https://arxiv.org/abs/{eprint}"))
    url = ref.get("url")
    if url and all(url != u for _, u in out):
        out.append(("URL", url))
    return out


def format_reference(ref: Reference) -> str:
    """The entry as an HTML fragment: authors, “title”, venue, pages, year, and its links."""
    e = html.escape
    parts = [e(_authors(ref.get("author"))), f"“{e(ref.get('title'))}”"]
    if _venue(ref):
        parts.append(f"<em>{e(_venue(ref))}</em>")
    if ref.get("pages"):
        parts.append(f"pp. {e(ref.get('pages').replace('--', '–'))}")
    parts.append(e(ref.get("year")))
    text = ", ".join(parts) + "."
    anchors = " ".join(f'<a href="{e(url)}">{label}</a>' for label, url in links(ref))
    return f"{text} {anchors}".strip()


_SKIP = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>|<style\b.*?</style>|<script\b.*?</script>)", re.S | re.I)


def resolve(page_html: str, bib: dict[str, Reference], bib_page_url: str) -> tuple[str, list[str], list[str]]:
    """Replace citations in ``page_html`` by numbered links to a reference list appended to the page.

    Returns (new html, keys cited in order, unknown keys). Text inside ``<pre>``, ``<code>``, ``<style>`` and
    ``<script>`` is left alone (a page may show the syntax); unknown keys stay visible as ``[?key]``."""
    order: list[str] = []
    unknown: list[str] = []

    def number(match: re.Match) -> str:
        out = []
        for key in _keys_of(match):
            if key not in bib:
                if key not in unknown:
                    unknown.append(key)
                out.append(f'<span class="citation-unknown">?{html.escape(key)}</span>')
                continue
            if key not in order:
                order.append(key)
            n = order.index(key) + 1
            out.append(f'<a class="citation" href="#ref-{key}" title="{html.escape(bib[key].get("title"))}">{n}</a>')
        return "[" + ", ".join(out) + "]"

    pieces = _SKIP.split(page_html)
    for i in range(0, len(pieces), 2):  # even pieces are outside <pre>/<code>
        pieces[i] = CITE_RE.sub(number, pieces[i])
    out = "".join(pieces)
    if order and 'id="references"' not in out:
        items = "\n".join(
            f'<li id="ref-{k}">{format_reference(bib[k])} '
            f'<a class="bib-link" href="{bib_page_url}#bib-{k}" title="参考文献页 bibliography">↗</a></li>'
            for k in order)
        out += f'\n<h2 id="references">参考文献 References</h2>\n<ol class="references">\n{items}\n</ol>\n'
    return out, order, unknown


def sort_key(ref: Reference) -> tuple[str, str, str]:
    first = re.split(r"\s+and\s+", ref.get("author"))[0]
    last = first.split(",")[0] if "," in first else (first.split() or [""])[-1]
    return last.lower(), ref.get("year"), ref.key
