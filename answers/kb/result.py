"""What an answer returns: tables, figures and claims decided by measured values.

A :class:`Claim` is never decided by a literal. It carries the measured ``values`` and a ``rule``: a small
Python expression over those values (``"batched_s < loop_s"``). The rule is parsed, must name at least one
value, and may only use comparisons, arithmetic, boolean logic and a few pure functions. Its text is shown on
the page and in ``answers run --json`` so a reader sees exactly how the ✓/✗ was reached.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

_RULE_FUNCS = {"abs": abs, "min": min, "max": max, "all": all, "any": any, "len": len, "sum": sum,
               "round": round, "zip": zip, "isclose": math.isclose}
_ALLOWED_NODES = (
    ast.Expression, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant,
    ast.Call, ast.Tuple, ast.List, ast.Subscript, ast.keyword, ast.GeneratorExp, ast.comprehension, ast.Store,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Mod, ast.Pow, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)


class RuleError(ValueError):
    """A claim's rule is not a valid expression over its values."""


def _check_rule(rule: str, names: Sequence[str]) -> ast.Expression:
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"rule {rule!r} is not an expression: {exc.msg}") from None
    used = set()
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(f"rule {rule!r} uses {type(node).__name__}, which rules may not use")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _RULE_FUNCS):
            raise RuleError(f"rule {rule!r} calls something other than {sorted(_RULE_FUNCS)}")
        if isinstance(node, ast.Name) and node.id not in _RULE_FUNCS and node.id not in bound:
            if node.id not in names:
                raise RuleError(f"rule {rule!r} names {node.id!r}, which is not one of the values {sorted(names)}")
            used.add(node.id)
    if not used:
        raise RuleError(f"rule {rule!r} names no measured value: a claim must be decided by data")
    return tree


def _plain(v: Any) -> Any:
    """Values as JSON-friendly Python scalars/lists (tensors and numpy types included)."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass
class Claim:
    """A statement (Chinese first, English summary) decided by ``rule`` evaluated over ``values``."""

    id: str
    zh: str
    en: str
    values: dict[str, Any]
    rule: str
    holds: bool = field(init=False)

    def __post_init__(self) -> None:
        self.values = {k: _plain(v) for k, v in self.values.items()}
        tree = _check_rule(self.rule, list(self.values))
        env = {"__builtins__": {}, **_RULE_FUNCS, **self.values}
        self.holds = bool(eval(compile(tree, f"<claim {self.id}>", "eval"), env))  # noqa: S307 - checked AST

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "zh": self.zh, "en": self.en, "rule": self.rule, "values": self.values,
                "holds": self.holds}


@dataclass
class Table:
    """Rows of a table (each a mapping column -> value), with a title and optional column notes."""

    title: str
    rows: list[dict[str, Any]]
    note: str = ""

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for row in self.rows:
            cols += [c for c in row if c not in cols]
        return cols

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "note": self.note, "columns": self.columns,
                "rows": [{k: _plain(v) for k, v in r.items()} for r in self.rows]}


def fmt(v: Any) -> str:
    """Human formatting for a table cell or claim value."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.1f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


@dataclass
class Result:
    """Everything an answer's ``run`` produced: named tables, matplotlib figures, claims and run metadata."""

    question_id: str
    profile: str
    seed: int
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str, title: str, rows: list[Mapping[str, Any]], note: str = "") -> Table:
        self.tables[name] = Table(title, [dict(r) for r in rows], note)
        return self.tables[name]

    def claim(self, id: str, zh: str, en: str, values: Mapping[str, Any], rule: str) -> Claim:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} used twice")
        c = Claim(id, zh, en, dict(values), rule)
        self.claims.append(c)
        return c

    def figure(self, name: str, fig: Any) -> Any:
        self.figures[name] = fig
        return fig

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question_id, "profile": self.profile, "seed": self.seed,
                "meta": _plain(self.meta), "all_hold": self.all_hold,
                "tables": {k: t.to_dict() for k, t in self.tables.items()},
                "figures": sorted(self.figures), "claims": [c.to_dict() for c in self.claims]}

    # -- rendering used by pages (mkdocs-jupyter shows Markdown outputs as HTML) --
    def show(self, name: str, columns: Sequence[str] | None = None):
        """A table (as Markdown, optionally only ``columns``) or a figure (as PNG) for a notebook page."""
        from IPython.display import Image, Markdown
        if name in self.tables:
            return Markdown(self.table_markdown(name, columns))
        if name in self.figures:
            import io
            buf = io.BytesIO()
            self.figures[name].savefig(buf, format="png")
            return Image(data=buf.getvalue(), format="png")
        raise KeyError(f"{self.question_id} has no table or figure {name!r}; it has: "
                       f"{', '.join([*self.tables, *self.figures])}")

    def show_claims(self):
        from IPython.display import Markdown
        return Markdown(self.claims_markdown())

    def table_markdown(self, name: str, columns: Sequence[str] | None = None) -> str:
        t = self.tables[name]
        cols = list(columns) if columns else t.columns
        lines = [f"**{t.title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in t.rows]
        if t.note:
            lines += ["", t.note]
        return "\n".join(lines)

    def claims_markdown(self) -> str:
        lines = ["| | 结论 (claim) | 实测值 (measured) | 判定规则 (rule) |", "|---|---|---|---|"]
        for c in self.claims:
            vals = ", ".join(f"{k} = {fmt(v)}" for k, v in c.values.items())
            mark = "✓" if c.holds else "✗"
            lines.append(f"| {mark} | {c.zh}<br><small>{c.en}</small> | {vals} | `{c.rule}` |")
        return "\n".join(lines)
