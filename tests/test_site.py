"""The strict site build at the tiny profile: home page from the registry, q08 executed, citations resolved."""
from __future__ import annotations

import re

import pytest

from answers.kb import course

pytestmark = pytest.mark.site


def test_home_page_lists_every_course_question_and_open_slot(built_site):
    html = (built_site / "index.html").read_text(encoding="utf-8")
    for text in ("智能产业研究院", "刘云新", "袁宜桢"):
        assert text in html
    for e in course.ENTRIES:
        assert e.asker in html
    assert 'href="q08-defense-cost/"' in html


def test_q08_page_shows_measured_evidence(built_site):
    html = (built_site / "q08-defense-cost" / "index.html").read_text(encoding="utf-8")
    assert "黄兆辉" in html
    assert len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", html)) >= 3  # pareto, calls vs k, latency vs calls
    assert "✓" in html and "✗" not in html.split("结论与判定")[1].split("在本地运行")[0]
    assert 'id="ref-xiang2022patchcleanser"' in html and 'href="#ref-xiang2022patchcleanser"' in html
    assert "Traceback" not in html and "Error" not in re.sub(r"<[^>]+>", "", html).split("参考文献")[0][-0:]


def test_bibliography_links_back_to_citing_pages(built_site):
    html = (built_site / "bibliography" / "index.html").read_text(encoding="utf-8")
    assert 'id="bib-xiang2022patchcleanser"' in html
    assert "q08-defense-cost/" in html


def test_search_index_is_segmented_for_chinese(built_site):
    index = (built_site / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "\\u200b" in index or "\u200b" in index
