"""Our mkdocs plugin (entry point ``answers``): citations, the generated home-page table, the navigation and
the global bibliography. Deliberately small and hook-only, so a move to another mkdocs-like engine stays cheap.

* ``[@key]`` / ``[@a; @b]`` in Markdown *and* notebook pages become numbered links to a reference list appended
  to the page (notebook pages skip ``on_page_markdown``, so citations are resolved in ``on_page_content``);
* an unknown key is a warning naming page and key, so ``mkdocs build --strict`` fails on it;
* a malformed ``references.bib`` stops the build with one line (a ``PluginError``), not a traceback;
* ``<!-- answers:index -->`` becomes the course table and ``<!-- answers:bibliography -->`` the list of every
  entry with links back to the pages citing it; without a ``nav`` in mkdocs.yml, the registry provides it.
"""
from __future__ import annotations

import json
import logging
import re
from html import escape
from pathlib import Path

from mkdocs.config import config_options
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.utils import get_relative_url

from .citations import BibError, find_keys, format_reference, load_bib, resolve, sort_key

log = logging.getLogger("mkdocs.plugins.answers")
BIBLIOGRAPHY_MARKER = "<!-- answers:bibliography -->"
_PAGE_SUFFIXES = (".md", ".py", ".ipynb")


def _site():
    # answers.kb.site pulls in the question registry; sites without a generated nav or index never need it
    from . import site
    return site


def _first_heading(text: str, suffix: str) -> str | None:
    """The page's H1 as written in its source: Markdown, a jupytext markdown cell, or an .ipynb cell."""
    if suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except (ValueError, AttributeError):
            return None
        text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown")
    elif suffix == ".py":
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# "))
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # the jupytext header is YAML, not a heading
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    match = re.search(r"^# +(.+?)\s*#*\s*$", text, re.M)
    return match.group(1) if match else None


class AnswersPlugin(BasePlugin):
    config_scheme = (
        ("bib_file", config_options.Type(str, default="references.bib")),
        ("bibliography_page", config_options.Type(str, default="bibliography.md")),
    )

    def on_config(self, config):
        root = Path(config.config_file_path or ".").resolve().parent
        try:
            self.bib = load_bib(root / self.config["bib_file"])
        except BibError as exc:
            raise PluginError(str(exc)) from None
        if not config.nav:
            config.nav = _site().nav()
        return config

    def on_files(self, files, config):
        # scan sources up front: the bibliography page needs every citing page before pages are rendered
        self.cited_by: dict[str, list[str]] = {}
        self.titles: dict[str, str] = {}
        for f in files:
            if not f.src_uri.endswith(_PAGE_SUFFIXES) or not f.abs_src_path:
                continue
            text = Path(f.abs_src_path).read_text(encoding="utf-8", errors="replace")
            title = _first_heading(text, Path(f.src_uri).suffix)
            if title:
                self.titles[f.src_uri] = title
            if _site().INDEX_MARKER in text:
                text += "\n" + _site().index_markdown()
            for key in find_keys(text):
                self.cited_by.setdefault(key, []).append(f.src_uri)
        return files

    def on_nav(self, nav, config, files):
        # titles given in the nav are what readers see in the menu; prefer them to the page's own H1
        for page in nav.pages:
            if page.title:
                self.titles[page.file.src_uri] = page.title
        return nav

    def on_page_markdown(self, markdown, page, config, files):
        site = _site()
        if site.INDEX_MARKER in markdown:
            markdown = markdown.replace(site.INDEX_MARKER, site.index_markdown())
        if BIBLIOGRAPHY_MARKER in markdown:
            markdown = markdown.replace(BIBLIOGRAPHY_MARKER, self._bibliography(page, files))
        return markdown

    def on_page_content(self, html, page, config, files):
        bib_file = files.get_file_from_path(self.config["bibliography_page"])
        bib_url = get_relative_url(bib_file.url, page.url) if bib_file else None
        out, _, unknown = resolve(html, self.bib, bib_url)
        for key in unknown:
            log.warning("%s: unknown citation key '%s' (not in %s)", page.file.src_uri, key, self.config["bib_file"])
        return out

    def _bibliography(self, page, files) -> str:
        items = []
        for ref in sorted(self.bib.values(), key=sort_key):
            back = []
            for src in self.cited_by.get(ref.key, []):
                target = files.get_file_from_path(src)
                if target is None or not target.is_documentation_page():
                    continue  # e.g. a .py file in docs that no notebook plugin turns into a page
                title = escape(self.titles.get(src, src))
                back.append(f'<a href="{escape(get_relative_url(target.url, page.url))}">{title}</a>')
            cited = f'<br><small class="cited-by">被引用于 cited by: {"、".join(back)}</small>' if back else ""
            items.append(f'<li id="bib-{escape(ref.key)}">{format_reference(ref)}{cited}</li>')
        return '<ol class="bibliography">\n' + "\n".join(items) + "\n</ol>"
