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

import logging
import re
from pathlib import Path

from mkdocs.config import config_options
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.utils import get_relative_url

from . import site
from .citations import BibError, find_keys, format_reference, load_bib, resolve, sort_key

log = logging.getLogger("mkdocs.plugins.answers")
BIBLIOGRAPHY_MARKER = "<!-- answers:bibliography -->"
_PAGE_SUFFIXES = (".md", ".py", ".ipynb")


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
            config.nav = site.nav()
        return config

    def on_files(self, files, config):
        # scan sources up front: the bibliography page needs every citing page before pages are rendered
        self.cited_by: dict[str, list[str]] = {}
        self.titles: dict[str, str] = {}
        for f in files:
            if not f.src_uri.endswith(_PAGE_SUFFIXES) or not f.abs_src_path:
                continue
            text = Path(f.abs_src_path).read_text(encoding="utf-8")
            if site.INDEX_MARKER in text:
                text += site.index_markdown()
            heading = re.search(r"^(?:# )?# (?!---)(.+)$", text, re.M)  # Markdown, or a jupytext markdown cell
            self.titles[f.src_uri] = heading.group(1).strip() if heading else f.src_uri
            for key in find_keys(text):
                self.cited_by.setdefault(key, []).append(f.src_uri)
        return files

    def on_page_markdown(self, markdown, page, config, files):
        if site.INDEX_MARKER in markdown:
            markdown = markdown.replace(site.INDEX_MARKER, site.index_markdown())
        if BIBLIOGRAPHY_MARKER in markdown:
            markdown = markdown.replace(BIBLIOGRAPHY_MARKER, self._bibliography(page, files))
        return markdown

    def on_page_content(self, html, page, config, files):
        bib_file = files.get_file_from_path(self.config["bibliography_page"])
        bib_url = get_relative_url(bib_file.url, page.url) if bib_file else ""
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
                if target is not None:
                    back.append(f'<a href="{get_relative_url(target.url, page.url)}">{self.titles.get(src, src)}</a>')
            cited = f'<br><small>被引用于 cited by: {"、".join(back)}</small>' if back else ""
            items.append(f'<li id="bib-{ref.key}">{format_reference(ref)}{cited}</li>')
        return '<ol class="bibliography">\n' + "\n".join(items) + "\n</ol>"
