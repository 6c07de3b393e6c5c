"""Our mkdocs plugin (entry point ``answers``): citations, the generated home-page table, the navigation and
the global bibliography. Deliberately small and hook-only, so a move to another mkdocs-like engine stays cheap.

* ``[@key]`` / ``[@a; @b]`` in Markdown *and* notebook pages become numbered links to a reference list appended
  to the page (notebook pages skip ``on_page_markdown``, so citations are resolved in ``on_page_content``);
* an unknown key is a warning naming page and key, so ``mkdocs build --strict`` fails on it;
* a malformed ``references.bib`` stops the build with one line (a ``PluginError``), not a traceback;
* ``<!-- answers:index -->`` becomes the course table, ``<!-- answers:bibliography -->`` the list of every
  entry with links back to the pages citing it, and ``<!-- answers:findings -->`` the index of every claim of the
  site (filled once every answer page has executed: :mod:`answers.kb.findings`), ``<!-- answers:times -->`` the
  computation-times page (:mod:`answers.kb.times`); without a ``nav`` in mkdocs.yml, the registry provides it;
* notebook pages get the heading ids of Markdown pages (one slug rule, :func:`slug`, which keeps Chinese; the
  notebook converter's own rule drops it and leaves the contents linking to ``#_1``); the notebook stylesheet
  that mkdocs-jupyter inlines in every page (about 600 KB) is written once as a shared file, and inline
  figures become PNG files beside their page.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from html import escape, unescape
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


def slug(text: str, separator: str = "-") -> str:
    """The site's one heading-id rule (Markdown pages use it through mkdocs.yml's toc ``slugify``): Unicode
    kept, lower case, punctuation dropped, spaces to ``separator``."""
    from pymdownx.slugs import slugify
    return slugify(case="lower")(text, separator)


_HEADING = re.compile(r"<h([1-6])([^>]*)>(.*?)</h\1>", re.S)
_ANCHOR = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.S)


def _heading_text(inner: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", "", _ANCHOR.sub("", inner))).split())


def fix_heading_ids(html: str, toc) -> str:
    """Give every heading of ``html`` the id :func:`slug` makes of its text (unique on the page, suffixed _1,
    _2 … as Markdown's toc does) and point ``toc``'s entries and the headings' own ¶ links at them."""
    used: set[str] = set()
    ids_by_text: dict[str, list[str]] = {}

    def renumber(m: re.Match) -> str:
        level, attrs, inner = m.groups()
        text = _heading_text(inner)
        base = slug(text) or "section"
        hid, n = base, 0
        while hid in used:
            n += 1
            hid = f"{base}_{n}"
        used.add(hid)
        ids_by_text.setdefault(text, []).append(hid)
        attrs = re.sub(r'\s*\bid="[^"]*"', "", attrs)
        inner = re.sub(r'(<a class="anchor-link" href=")[^"]*(")', lambda a: f"{a.group(1)}#{hid}{a.group(2)}", inner)
        return f'<h{level} id="{hid}"{attrs}>{inner}</h{level}>'

    out = _HEADING.sub(renumber, html)

    def walk(items):
        for item in items:
            ids = ids_by_text.get(_heading_text(item.title))
            if ids:
                item.id = ids.pop(0)
            walk(item.children)

    walk(toc or [])
    return out


_STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.S)
SHARED_CSS_MIN = 2000  # inline <style> blocks larger than this go to a shared file
_INLINE_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"')


def _download_links(html: str, page) -> str:
    """A line under the page's title offering the page to run yourself: as a Jupyter notebook (written by
    :func:`_write_notebook`) and as its source, a jupytext script (copied by mkdocs-jupyter's ``include_source``)."""
    name = Path(page.file.src_uri).name
    links = ""
    if name.endswith(".py"):
        links = (f'<a href="{escape(Path(name).stem)}.ipynb" download>notebook (.ipynb)</a> · '
                 f'<a href="{escape(name)}" download>jupytext (.py)</a>')
    elif name.endswith(".ipynb"):
        links = f'<a href="{escape(name)}" download>notebook (.ipynb)</a>'
    line = f'<p class="answers-download">下载本页，在本地运行 download this page: {links}</p>'
    head = re.search(r"</h1>", html)
    return html[:head.end()] + line + html[head.end():] if head else line + html


def _write_notebook(source: Path, dest_dir: Path) -> None:
    """The page's jupytext source as an (unexecuted) ``.ipynb`` beside the built page."""
    import jupytext
    dest_dir.mkdir(parents=True, exist_ok=True)
    jupytext.write(jupytext.read(source), dest_dir / f"{source.stem}.ipynb")


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
        self._cache_executed_pages(config)
        return config

    @staticmethod
    def _cache_executed_pages(config) -> None:
        """Let mkdocs-jupyter reuse an executed page while neither the page nor any code under ``answers/``
        changed: its cache is keyed on the page alone, so it gets a folder of its own per profile and code digest.
        A fresh build (ANSWERS_FRESH=1), or one with ANSWERS_EXECUTE_PAGES=1 (the tests' build, on results
        ``answers build --fresh`` has just computed), executes every page."""
        import os

        from .result_cache import PACKAGE, fresh_by_default, source_digest
        jupyter = config.plugins.get("mkdocs-jupyter")
        if jupyter is None:
            return
        if fresh_by_default() or os.environ.get("ANSWERS_EXECUTE_PAGES") == "1":
            jupyter.config["cache"] = False
            return
        digest = source_digest([*sorted(PACKAGE.rglob("*.py")), *sorted(PACKAGE.rglob("*.json"))])
        profile = os.environ.get("ANSWERS_PROFILE", "site")
        root = Path(config.config_file_path or ".").resolve().parent
        jupyter.config["cache"] = True
        jupyter.config["cache_dir"] = str(root / ".cache" / "pages" / f"{profile}-{digest[:12]}")

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
        if page.file.src_uri.endswith((".py", ".ipynb")):
            html = fix_heading_ids(html, page.toc)
            html = _download_links(html, page)
        bib_file = files.get_file_from_path(self.config["bibliography_page"])
        bib_url = get_relative_url(bib_file.url, page.url) if bib_file else None
        out, _, unknown = resolve(html, self.bib, bib_url)
        for key in unknown:
            log.warning("%s: unknown citation key '%s' (not in %s)", page.file.src_uri, key, self.config["bib_file"])
        return out

    def on_post_page(self, output, page, config):
        if page.file.src_uri.endswith(".py") and page.file.abs_src_path:
            _write_notebook(Path(page.file.abs_src_path), Path(page.file.abs_dest_path).parent)
        return self._lighten(output, page, config)

    @staticmethod
    def _lighten(output, page, config):
        """Move the large inline stylesheets of notebook pages into files named by their content's hash, so
        a reader downloads them once for the whole site instead of with every page; move inline figures
        (base64 PNGs) into files beside the page, so the page itself stays light and figures load lazily."""
        page_dir = Path(page.file.abs_dest_path).parent

        def unpack(m: re.Match) -> str:
            import base64
            data = base64.b64decode("".join(m.group(1).split()))
            name = f"figure-{hashlib.sha256(data).hexdigest()[:12]}.png"
            page_dir.mkdir(parents=True, exist_ok=True)
            (page_dir / name).write_bytes(data)
            return f'src="{name}" loading="lazy"'

        output = _INLINE_PNG.sub(unpack, output)

        def share(m: re.Match) -> str:
            css = m.group(1)
            if len(css) < SHARED_CSS_MIN:
                return m.group(0)
            name = f"assets/answers-notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
            target = Path(config.site_dir) / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(css, encoding="utf-8")
            return f'<link rel="stylesheet" href="{escape(get_relative_url(name, page.url))}">'
        return _STYLE.sub(share, output)

    def on_env(self, env, config, files):
        # every page has been read and rendered (so every answer executed and stored its result) and none written
        import markdown

        from .findings import FINDINGS_MARKER, findings_markdown
        from .times import TIMES_MARKER, times_markdown
        for f in files.documentation_pages():
            page = f.page
            for marker, render in ((FINDINGS_MARKER, findings_markdown), (TIMES_MARKER, times_markdown)):
                if page is not None and page.content and marker in page.content:
                    html = markdown.markdown(render(self._stored(page, files)), extensions=["tables", "md_in_html"])
                    page.content = page.content.replace(marker, html)
        return env

    @staticmethod
    def _stored(page, files) -> list:
        """Every answer's result that the pages of this build stored, with its page's URL relative to ``page``."""
        import os

        from . import registry
        from .findings import AnswerResult
        from .result_cache import stored_result
        profile = os.environ.get("ANSWERS_PROFILE", "site")
        entries = []
        for a in registry.all_answers():
            target = files.get_file_from_path(a.question.page)
            result = stored_result(a.run, profile=profile)
            if target is None or result is None:
                log.warning("%s: no result of %s at profile %s stored by this build (its page %s did not "
                            "execute?); `answers run %s --profile %s` stores it", page.file.src_uri, a.id, profile,
                            a.question.page, a.id, profile)
                continue
            entries.append(AnswerResult(a.id, a.question.title_zh, get_relative_url(target.url, page.url), result))
        return entries

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
