"""Citations: parsing references.bib, [@key] syntax, and our mkdocs plugin in small throwaway sites."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from answers.kb.citations import BibError, find_keys, format_reference, load_bib, resolve

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
      title = {Less <Escaped> & More},
      journal = {arXiv preprint arXiv:1901.00002},
      year = {2019},
      eprint = {1901.00002}
    }
    @article{unused2018,
      author = {Delta, Dan},
      title = {Never Cited},
      journal = {J. Nothing},
      year = {2018},
      url = {https://example.org/never}
    }
    """)


def test_find_keys_single_multiple_and_not_emails_or_code():
    text = "See [@alpha2020] and [@gamma2019; @alpha2020]; mail a@b.org; code `[@unused2018]`."
    assert find_keys(text) == ["alpha2020", "gamma2019"]


def test_format_reference_renders_from_the_entry(tmp_path):
    (tmp_path / "r.bib").write_text(BIB)
    bib = load_bib(tmp_path / "r.bib")
    html = format_reference(bib["alpha2020"])
    assert "A. Alpha and B. Beta" in html and "On CNN Things" in html and "pp. 1–10" in html and "2020" in html
    assert 'href="https://doi.org/10.1000/xyz"' in html and 'href="https://arxiv.org/abs/2001.00001"' in html
    assert "&lt;Escaped&gt; &amp; More" in format_reference(bib["gamma2019"])


def test_resolve_numbers_per_page_and_appends_references(tmp_path):
    (tmp_path / "r.bib").write_text(BIB)
    bib = load_bib(tmp_path / "r.bib")
    html, order, unknown = resolve("<p>[@gamma2019] then [@alpha2020; @gamma2019] <code>[@alpha2020]</code></p>",
                                   bib, "../bibliography/")
    assert order == ["gamma2019", "alpha2020"] and unknown == []
    assert re.findall(r'href="#ref-(\w+)"[^>]*>(\d)', html) == [("gamma2019", "1"), ("alpha2020", "2"), ("gamma2019", "1")]
    assert "<code>[@alpha2020]</code>" in html
    assert 'id="ref-gamma2019"' in html and 'href="../bibliography/#bib-gamma2019"' in html


@pytest.mark.parametrize("text, needle", [
    ("@article{a, title = {unclosed\n", "r.bib:1"),
    ("@article{a, author={X, Y}, title={T}, year={2000}}\n@article{a, author={X, Y}, title={U}, year={2001}}\n",
     "duplicate key 'a'"),
    ("@article{a, title={T}, year={2000}}\n", "lacks author"),
])
def test_malformed_bib_is_one_clear_error(tmp_path, text, needle):
    (tmp_path / "r.bib").write_text(text)
    with pytest.raises(BibError) as err:
        load_bib(tmp_path / "r.bib")
    assert needle in str(err.value) and "\n" not in str(err.value)


def _site(tmp_path: Path, pages: dict[str, str], bib: str = BIB, jupyter: bool = False) -> subprocess.CompletedProcess:
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
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_markdown_page_citations_and_bibliography_backlinks(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n\nOne [@alpha2020]. Two [@gamma2019; @alpha2020].\n"})
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert re.findall(r'class="citation" href="#ref-(\w+)"', page) == ["alpha2020", "gamma2019", "alpha2020"]
    assert 'id="ref-alpha2020"' in page and 'id="ref-gamma2019"' in page
    bib = (tmp_path / "site" / "bibliography" / "index.html").read_text()
    for key in ("alpha2020", "gamma2019", "unused2018"):
        assert f'id="bib-{key}"' in bib
    assert re.search(r'id="bib-alpha2020".*?href="\.\./">Home</a>', bib, re.S)


def test_unknown_key_fails_strict_build_naming_page_and_key(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n\nBad [@nosuchkey2000].\n"})
    assert proc.returncode != 0
    assert "index.md" in proc.stderr and "nosuchkey2000" in proc.stderr


def test_malformed_bib_fails_the_build_in_one_line(tmp_path):
    proc = _site(tmp_path, {"index.md": "# Home\n"}, bib="@article{broken, title = {oops\n")
    assert proc.returncode != 0
    assert "refs.bib:1" in proc.stderr and "Traceback" not in proc.stderr


def test_notebook_page_citations_are_resolved(tmp_path):
    notebook = """\
        # %% [markdown]
        # # A notebook page
        #
        # As shown before [@gamma2019].

        # %%
        print("hello")
        """
    proc = _site(tmp_path, {"index.md": "# Home\n", "nb.py": notebook}, jupyter=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "site" / "nb" / "index.html").read_text()
    assert 'href="#ref-gamma2019"' in page and 'id="ref-gamma2019"' in page
    bib = (tmp_path / "site" / "bibliography" / "index.html").read_text()
    assert re.search(r'id="bib-gamma2019".*?href="\.\./nb/"', bib, re.S)
