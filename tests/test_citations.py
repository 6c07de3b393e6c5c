"""Citations: parsing a .bib, the [@key] syntax, and our mkdocs plugin in small throwaway sites."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from answers.kb.citations import (BibError, Reference, UnknownKey, find_keys, format_reference, load_bib,
                                  resolve)

BIB = textwrap.dedent("""\
    @inproceedings{alpha2020,
      author = {Alpha, Ann and Beta, Bob},
      title = {On {CNN} Things},
      booktitle = {Proc. of Things},
      pages = {1--10},
      year = {2020},
      doi = {10.1000/xyz},
      eprint = {2001.00001},
      archiveprefix = {arXiv}
    }
    @article{gamma2019,
      author = {Gamma, Gus},
      title = {Less <Escaped> \\& More},
      journal = {arXiv preprint arXiv:1901.00002},
      year = {2019},
      eprint = {1901.00002}
    }
    @article{unused2018,
      author = {Delta, Dan},
      title = {Never Cited},
      journal = {J. Nothing},
      volume = {3},
      number = {2},
      year = {2018},
      url = {https://example.org/never?a=1&b=2}
    }
    """)


@pytest.fixture
def bib(tmp_path):
    (tmp_path / "r.bib").write_text(BIB, encoding="utf-8")
    return load_bib(tmp_path / "r.bib")


# --- find_keys and format_reference ------------------------------------------------------------------------

def test_find_keys_single_multiple_and_not_emails_or_code():
    text = ("See [@alpha2020] and [@gamma2019; @alpha2020]; mail a@b.org or [x@y.org]; "
            "code `[@unused2018]`, keys [@a_b:c-d.e].\n```\n[@fenced]\n```\n")
    assert find_keys(text) == ["alpha2020", "gamma2019", "a_b:c-d.e"]


def test_format_reference_renders_from_the_entry(bib):
    out = format_reference(bib["alpha2020"])
    assert "A. Alpha and B. Beta" in out and "“On CNN Things”" in out and "<em>Proc. of Things</em>" in out
    assert "pp. 1–10" in out and "2020" in out
    assert '<a href="https://doi.org/10.1000/xyz">DOI</a>' in out
    assert '<a href="https://arxiv.org/abs/2001.00001">arXiv</a>' in out


def test_format_reference_escapes_and_links_url(bib):
    assert "Less &lt;Escaped&gt; &amp; More" in format_reference(bib["gamma2019"])
    assert 'href="https://arxiv.org/abs/1901.00002"' in format_reference(bib["gamma2019"])
    out = format_reference(bib["unused2018"])
    assert 'href="https://example.org/never?a=1&amp;b=2"' in out and "J. Nothing, vol. 3, no. 2" in out
    evil = Reference("k", "misc", {"author": "<b>Bad</b>, Eve", "title": '"><script>x</script>', "year": "2000",
                                   "url": 'javascript:"x"'})
    assert "<script>" not in format_reference(evil) and "<b>" not in format_reference(evil)


@pytest.mark.parametrize("authors, expected", [
    ("Chen, Pin-Yu", "P.-Y. Chen"),
    ("Ann Alpha and Bob Beta and Cy Gamma", "A. Alpha, B. Beta, and C. Gamma"),
    (" and ".join(f"Name{i}, First" for i in range(6)), "F. Name4, and F. Name5"),
    (" and ".join(f"Name{i}, First" for i in range(7)), "F. Name0 et al."),
    ("Alpha, Ann and others", "A. Alpha et al."),
])
def test_author_abbreviation(authors, expected):
    out = format_reference(Reference("k", "misc", {"author": authors, "title": "T", "year": "2000"}))
    assert out.startswith(expected) if "et al." in expected else expected in out


# --- resolve -----------------------------------------------------------------------------------------------

def test_resolve_numbers_per_page_and_appends_references(bib):
    html, order, unknown = resolve(
        "<p>[@gamma2019] then [@alpha2020; @gamma2019] <code>[@alpha2020]</code></p><pre>[@unused2018]</pre>",
        bib, "../bibliography/")
    assert order == ["gamma2019", "alpha2020"] and unknown == []
    assert re.findall(r'href="#ref-(\w+)"[^>]*>(\d)', html) == [("gamma2019", "1"), ("alpha2020", "2"),
                                                                  ("gamma2019", "1")]
    assert re.search(r'\[<a [^>]*>2</a>, <a [^>]*>1</a>\]', html)
    assert "<code>[@alpha2020]</code>" in html and "<pre>[@unused2018]</pre>" in html
    assert html.count('<h2 id="references">参考文献 References</h2>') == 1
    assert re.findall(r'<li id="ref-(\w+)"', html) == ["gamma2019", "alpha2020"]
    assert 'href="../bibliography/#bib-gamma2019"' in html


def test_resolve_keeps_unknown_keys_visible_or_raises_when_strict(bib):
    html, order, unknown = resolve("<p>[@alpha2020; @nope]</p>", bib, "b/")
    assert order == ["alpha2020"] and unknown == ["nope"] and "?nope" in html
    with pytest.raises(UnknownKey, match="nope"):
        resolve("<p>[@nope]</p>", bib, "b/", strict=True)


def test_resolve_reuses_a_references_heading_that_ends_the_page(bib):
    html, _, _ = resolve('<p>[@alpha2020]</p>\n<h2 id="refs">References</h2>\n', bib, "b/")
    assert "参考文献 References" not in html and 'id="ref-alpha2020"' in html
    assert resolve("<p>no citations</p>", bib, "b/")[0] == "<p>no citations</p>"


# --- load_bib errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    ("@article{a, title = {unclosed\n", "r.bib:1: cannot parse"),
    ("% note\n\n@article{a, author={X, Y}, title={T}, year={2000}}\n"
     "@article{a, author={X, Y}, title={U}, year={2001}}\n", "r.bib:4: duplicate key 'a'"),
    ("@article{a, author={X, Y}, author={Z, W}, title={T}, year={2000}}\n", "entry 'a' repeats author"),
    ("@article{a, title={T}, year={2000}}\n", "r.bib:1: entry 'a' lacks author"),
])
def test_malformed_bib_is_one_clear_error(tmp_path, text, needle):
    (tmp_path / "r.bib").write_text(text)
    with pytest.raises(BibError) as err:
        load_bib(tmp_path / "r.bib")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_bib_is_a_bib_error(tmp_path):
    with pytest.raises(BibError, match="nothere.bib"):
        load_bib(tmp_path / "nothere.bib")


# --- the plugin in throwaway sites ---------------------------------------------------------------------------

def _site(tmp_path: Path, pages: dict[str, str], bib: str = BIB, jupyter: bool = False,
          strict: bool = True) -> subprocess.CompletedProcess:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in pages.items():
        (docs / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (docs / "bibliography.md").write_text("# Bibliography\n\n<!-- answers:bibliography -->\n", encoding="utf-8")
    (tmp_path / "refs.bib").write_text(bib, encoding="utf-8")
    nav = "".join(f"  - {n}\n" for n in [*pages, "bibliography.md"])
    plugins = "  - answers:\n      bib_file: refs.bib\n"
    if jupyter:
        plugins += "  - mkdocs-jupyter:\n      include: ['*.py']\n      execute: false\n"
    (tmp_path / "mkdocs.yml").write_text(f"site_name: t\ntheme:\n  name: material\nnav:\n{nav}plugins:\n{plugins}")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "-d", str(tmp_path / "site"), *(["--strict"] * strict)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_markdown_pages_citations_code_and_bibliography_backlinks(tmp_path):
    proc = _site(tmp_path, {
        "index.md": "# Home\n\nOne [@alpha2020]. Two [@gamma2019; @alpha2020]. Syntax: `[@unused2018]`.\n",
        "other.md": "# Other page\n\nHere gamma comes first [@gamma2019].\n",
    })
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'class="citation" href="#ref-(\w+)"[^>]*>(\d)', page) == [
        ("alpha2020", "1"), ("gamma2019", "2"), ("alpha2020", "1")]
    assert '<h2 id="references">参考文献 References</h2>' in page
    assert 'id="ref-alpha2020"' in page and 'id="ref-gamma2019"' in page and 'id="ref-unused2018"' not in page
    assert 'href="bibliography/#bib-alpha2020"' in page
    assert "<code>[@unused2018]</code>" in page
    other = (tmp_path / "site" / "other" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'class="citation" href="#ref-(\w+)"[^>]*>(\d)', other) == [("gamma2019", "1")]

    bib = (tmp_path / "site" / "bibliography" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'id="bib-(\w+)"', bib) == ["alpha2020", "unused2018", "gamma2019"]  # by last name
    alpha = re.search(r'id="bib-alpha2020".*?</li>', bib, re.S).group(0)
    assert "被引用于 cited by:" in alpha and 'href="../">Home</a>' in alpha and "Other page" not in alpha
    gamma = re.search(r'id="bib-gamma2019".*?</li>', bib, re.S).group(0)
    assert 'href="../">Home</a>' in gamma and 'href="../other/">Other page</a>' in gamma
    assert "cited by" not in re.search(r'id="bib-unused2018".*?</li>', bib, re.S).group(0)


def test_unknown_key_fails_strict_build_naming_page_and_key(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n\nBad [@nosuchkey2000].\n"})
    assert proc.returncode != 0
    assert re.search(r"WARNING.*index\.md.*nosuchkey2000", proc.stderr)


def test_unknown_key_stays_visible_in_a_normal_build(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n\nBad [@nosuchkey2000].\n"}, strict=False)
    assert proc.returncode == 0, proc.stderr
    assert "nosuchkey2000" in proc.stderr
    assert "?nosuchkey2000" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_malformed_bib_fails_the_build_in_one_line(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n"}, bib="@article{ok, author={A, B}, title={T}, year={2000}}\n"
                                                         "@article{broken, title = {oops\n")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output
    errors = [line for line in output.splitlines() if "refs.bib" in line]
    assert len(errors) == 1 and "refs.bib:2" in errors[0] and "broken" in errors[0], output


def test_notebook_page_citations_are_resolved(tmp_path):
    notebook = """\
        # ---
        # jupyter:
        #   jupytext:
        #     text_representation:
        #       extension: .py
        #       format_name: percent
        # ---

        # %% [markdown]
        # # A notebook page
        #
        # As shown before [@gamma2019; @alpha2020]. Syntax: `[@unused2018]`.

        # %%
        print("hello")
        """
    proc = _site(tmp_path, {"index.md": "# Home\n", "nb.py": notebook}, jupyter=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "site" / "nb" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'class="citation" href="#ref-(\w+)"[^>]*>(\d)', page) == [("gamma2019", "1"),
                                                                               ("alpha2020", "2")]
    assert 'id="ref-gamma2019"' in page and 'href="../bibliography/#bib-gamma2019"' in page
    assert "[@unused2018]" in page and 'id="ref-unused2018"' not in page
    bib = (tmp_path / "site" / "bibliography" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'id="bib-gamma2019".*?href="\.\./nb/">A notebook page</a>', bib, re.S)


# --- real-world bibliographies ---------------------------------------------------------------------------------

def _real_world_bib(n: int = 400) -> tuple[str, list[str]]:
    """A large, well-formed bibliography in the styles big projects use: editor-only books and proceedings,
    keys with * + / : punctuation, TeX accents and escapes, URLs with %-escapes and DOIs with \\_."""
    entries, keys = [], []
    accents = [r"M{\"u}ller", r"Garc{\'\i}a", r"Ko{\v{c}}i", r"{\O}stergaard", r"Fran{\c{c}}ois", r"G{\"o}del"]
    for i in range(n):
        who = accents[i % len(accents)]
        kind = i % 4
        key = ["smith{i}:deep", "doe{i}*star", "conf/nips/x{i}+y", "lib{i}.v2-final"][kind].format(i=i)
        keys.append(key)
        if kind == 0:
            entries.append(f"@article{{{key}, author = {{{who}, Anna and Lee, Bo}}, title = {{{{\\'E}}tudes on "
                           f"{{ML}} \\& Security, part {i}}}, journal = {{J. Test}}, year = {{{2000 + i % 25}}}, "
                           f"doi = {{10.1000/x\\_{i}}}, url = {{https://example.org/p%20{i}}}}}")
        elif kind == 1:
            entries.append(f"@book{{{key}, editor = {{{who}, Carl}}, title = {{Handbook {i}}}, publisher = {{Pub}}, "
                           f"year = {{{1990 + i % 30}}}}}")
        elif kind == 2:
            entries.append(f"@proceedings{{{key}, editor = {{Ng, Dan and {who}, Eve}}, title = {{Proc. of Workshop "
                           f"{i}}}, year = {{2019}}, eprint = {{2101.{i:05d}}}, archiveprefix = {{arXiv}}}}")
        else:
            entries.append(f"@misc{{{key}, organization = {{Some Lab}}, title = {{Report {i}~v2}}, year = {{2021}}}}")
    return "\n\n".join(entries) + "\n", keys


def test_a_large_real_world_bibliography_loads_whole_and_renders(tmp_path):
    text, keys = _real_world_bib()
    (tmp_path / "big.bib").write_text(text, encoding="utf-8")
    bib = load_bib(tmp_path / "big.bib")
    assert sorted(bib) == sorted(keys)
    for key in keys:
        html = format_reference(bib[key])
        assert html and "\\" not in html and "{" not in html, (key, html)
    assert "Müller" in format_reference(bib["smith0:deep"]) and "Études on ML &amp; Security" in \
        format_reference(bib["smith0:deep"])
    assert 'href="https://example.org/p%200"' in format_reference(bib["smith0:deep"])   # % is no comment in a URL
    assert 'href="https://doi.org/10.1000/x_0"' in format_reference(bib["smith0:deep"])
    assert "(ed.)" in format_reference(bib["doe1*star"]) and "García" in format_reference(bib["doe1*star"])
    assert "(eds.)" in format_reference(bib["conf/nips/x2+y"]) and "arXiv" in format_reference(bib["conf/nips/x2+y"])
    assert format_reference(bib["lib3.v2-final"]).startswith("Some Lab")
    assert find_keys("see [@doe1*star; @conf/nips/x2+y] and [@smith0:deep].") == ["doe1*star", "conf/nips/x2+y",
                                                                                    "smith0:deep"]


def test_a_page_citing_a_starred_key_resolves_in_a_strict_build(tmp_path):
    text, _ = _real_world_bib(8)
    proc = _site(tmp_path, {"index.md": "# Home\n\nSee [@doe1*star] and [@conf/nips/x2+y].\n"}, bib=BIB + "\n" + text)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="#ref-doe1*star"' in html and 'id="ref-doe1*star"' in html and 'id="ref-conf/nips/x2+y"' in html
