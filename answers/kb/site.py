"""Site pieces generated from the registry and the course data: navigation and the home page's table.

Called by our mkdocs plugin (:mod:`answers.kb.mkdocs_plugin`): ``nav()`` when mkdocs.yml has no ``nav``,
``index_markdown()`` where a page holds the marker ``<!-- answers:index -->``.
"""
from __future__ import annotations

from . import course, registry

INDEX_MARKER = "<!-- answers:index -->"


def nav() -> list:
    answered = {a.id: a.question for a in registry.all_answers()}
    questions = [{f"{q.id} {q.title_zh}": q.page} for q in answered.values()]
    return [
        {"首页": "index.md"},
        {"问题与回答": questions},
        {"结论索引": "findings.md"},
        {"计算时间": "times.md"},
        {"本地运行": "run-locally.md"},
        {"贡献新问题": "contributing.md"},
        {"参考文献": "bibliography.md"},
    ]


def index_markdown() -> str:
    answered = {a.id: a.question for a in registry.all_answers()}
    lines = [f"## {course.TITLE}", "", f"**{course.INSTITUTE}** · 导师：{course.ADVISOR} · 学生：{course.STUDENT}", ""]
    for section in course.SECTIONS:
        entries = [e for e in course.ENTRIES if e.section == section]
        lines += [f"### {section}", ""]
        asked = [e for e in entries if e.qid]
        if asked:
            lines += ["| 编号 | 提问者 | 问题 | 状态 | 助教引用 |", "|---|---|---|---|---|"]
            for e in asked:
                if e.qid in answered:
                    q = answered[e.qid]
                    status = f"[已回答 answered]({q.page})"
                    text = f"[{e.question}]({q.page})"
                else:
                    status, text = "尚未回答 not yet", e.question
                cites = "; ".join(f"@{k}" for k in e.ta_cites)
                lines.append(f"| {e.qid} | {e.asker} | {text} | {status} | {'[' + cites + ']' if cites else ''} |")
            lines.append("")
        slots = [e for e in entries if not e.qid]
        if slots:
            lines += ["开放名额（课程页只列出了提问者，尚无问题） open slots: "
                      + "、".join(e.asker for e in slots), ""]
            if section == "大闭环自选":
                lines += [f"课程页注：{course.SELF_CHOSEN_NOTE}", ""]
    return "\n".join(lines)
