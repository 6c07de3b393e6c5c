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

from .evidence import Evidence

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


KINDS = ("check", "finding")
OUTCOMES = ("holds", "fails", "inconclusive")
#: a model a finding rests on must reach this multiple of chance accuracy (0.5 for ten classes)
HEALTHY_TIMES_CHANCE = 5
#: two models compared by a finding may differ by at most this much clean accuracy (else: confounded)
MATCHED_ACCURACY = 0.10


def _evaluate(tree: ast.Expression, name: str, values: Mapping[str, Any]) -> bool:
    env = {"__builtins__": {}, **_RULE_FUNCS, **values}
    return bool(eval(compile(tree, f"<claim {name}>", "eval"), env))  # noqa: S307 - checked AST


@dataclass
class Claim:
    """A statement (Chinese first, English summary) decided by ``rule`` evaluated over measured ``values``.

    ``kind="check"``: an invariant of the code (loop = batched, counted calls = formula); its outcome is
    "holds" or "fails" and it must hold at every profile. ``kind="finding"``: a statement about the world,
    decided with its ``evidence`` (see :mod:`answers.kb.evidence`): "holds", "fails" or "inconclusive".
    ``null`` gives values under which the sentence would be false (no effect); a rule that still accepts them
    has slack and is refused. ``expected`` declares an outcome other than "holds" that the page explains.
    ``compares`` names models whose clean accuracies must lie within :data:`MATCHED_ACCURACY` of each other
    (set by :meth:`Result.finding`); a comparison of mismatched models is inconclusive, never a finding.
    ``small_scale`` says why a finding is known to reverse at the tiny profile (too small a budget to show the
    effect); it is then still decided and shown at tiny but not required there, and at site it must hold."""

    id: str
    zh: str
    en: str
    values: dict[str, Any]
    rule: str
    kind: str = "check"
    evidence: Evidence | None = None
    null: dict[str, Any] | None = None
    expected: str | None = None
    confound: str | None = None
    small_scale: str | None = None
    compares: tuple[str, ...] = ()      # the recorded models whose clean accuracies the comparison assumes matched
    outcome: str = field(init=False)
    point: bool = field(init=False)     # the rule on the measured values alone (no evidence)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.expected is not None and (self.kind != "finding" or self.expected not in OUTCOMES):
            raise ValueError(f"claim {self.id!r}: only a finding may declare an expected outcome, one of {OUTCOMES}")
        if self.kind == "finding" and self.evidence is None:
            raise ValueError(f"finding {self.id!r} needs its evidence (n, a test or an interval)")
        self.values = {k: _plain(v) for k, v in self.values.items()}
        tree = _check_rule(self.rule, list(self.values))
        if self.null is not None:
            unknown = sorted(set(self.null) - set(self.values))
            if unknown:
                raise RuleError(f"claim {self.id!r}: null case names {unknown}, which are not among its values")
            if _evaluate(tree, self.id, {**self.values, **_plain(self.null)}):
                raise RuleError(f"claim {self.id!r}: rule {self.rule!r} also holds in the null case {self.null}: "
                                "it has slack, so its sentence could be false while it shows ✓")
        point = self.point = _evaluate(tree, self.id, self.values)
        if self.kind == "check":
            self.outcome = "holds" if point else "fails"
        elif self.confound is None and self.evidence.decided(lambda v: _evaluate(tree, self.id, v), self.values):
            self.outcome = "holds" if point else "fails"
        else:
            self.outcome = "inconclusive"

    @property
    def holds(self) -> bool:
        return self.outcome == "holds"

    @property
    def wanted(self) -> str:
        """The outcome this claim should have at the site profile."""
        return self.expected or "holds"

    def problem(self, profile: str) -> str | None:
        """Why this claim is not acceptable at ``profile`` (None if it is). Checks must hold everywhere;
        at the site and full profiles a finding must have its wanted outcome; at tiny (a few dozen images)
        a finding may be inconclusive, but neither fail nor have its point estimate go against its sentence,
        unless it declares a small-scale reversal (``small_scale``) — so a bug that removes an effect is caught
        by the tiny tests, not only by the site build."""
        if self.kind == "check":
            return None if self.holds else "check fails"
        if profile == "tiny":
            if self.small_scale or self.wanted == "fails":
                return None
            if self.outcome == "fails":
                return "finding fails"
            if self.wanted == "holds" and not self.point:
                return "finding's point estimate goes against its sentence (inconclusive, and no small-scale reversal declared)"
            return None
        return None if self.outcome == self.wanted else f"finding is {self.outcome}, expected {self.wanted}"

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "outcome": self.outcome, "holds": self.holds, "zh": self.zh,
               "en": self.en, "rule": self.rule, "values": self.values}
        if self.expected:
            out["expected"] = self.expected
        if self.evidence is not None:
            out["evidence"] = self.evidence.to_dict()
        if self.null is not None:
            out["null"] = _plain(self.null)
        if self.compares:
            out["compares"] = list(self.compares)
        if self.confound:
            out["confound"] = self.confound
        if self.small_scale:
            out["small_scale"] = self.small_scale
        return out


@dataclass
class Table:
    """Rows of a table (each a mapping column -> value), with a title and optional column notes."""

    title: str
    rows: list[dict[str, Any]]
    note: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # column -> display header (else COLUMN_LABELS)

    def label(self, column: str) -> str:
        return self.labels.get(column) or label(column)

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


class ClaimsNotMet(AssertionError):
    """A strict page build met a check that fails or a finding without its wanted outcome."""


@dataclass
class Result:
    """Everything an answer's ``run`` produced: named tables, matplotlib figures, claims and run metadata.

    ``meta["models"]`` lists every trained model the claims rest on as ``{"name", "clean_acc", "chance"}`` (and
    ``"weak_finding"`` where a model's failure to learn is itself a finding)
    (see :meth:`model`). ``columns``: display headers for the columns of this answer's own tables (the answer's
    ``COLUMNS``, given to :meth:`answers.experiment.Experiment.start`); shared ones are in :data:`COLUMN_LABELS`."""

    question_id: str
    profile: str
    seed: int
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)

    def table(self, name: str, title: str, rows: list[Mapping[str, Any]], note: str = "",
              labels: Mapping[str, str] | None = None) -> Table:
        """Add a table; ``labels`` gives headers for this table only (over the answer's ``columns``)."""
        self.tables[name] = Table(title, [dict(r) for r in rows], note, {**self.columns, **(labels or {})})
        return self.tables[name]

    def row(self, table: str, key: Any, column: str | None = None) -> dict[str, Any]:
        """The row of ``table`` whose ``column`` (default: the first column) equals ``key``."""
        t = self.tables[table]
        column = column or t.columns[0]
        found = [r for r in t.rows if r.get(column) == key]
        if len(found) != 1:
            raise KeyError(f"{self.question_id}: table {table!r} has {len(found)} rows with {column} = {key!r}")
        return found[0]

    def model(self, name: str, clean_acc: float, num_classes: int, weak_finding: str | None = None) -> float:
        """Record a model the claims rest on, with its clean accuracy; returns the accuracy.

        ``weak_finding`` names the finding whose subject is that this model did *not* learn (a training method
        that fails at a budget): below the health bar it is then reported only if that finding is not made or
        does not have its wanted outcome — a weak model may be the result, never the carrier of a comparison."""
        models = self.meta.setdefault("models", [])
        if any(m["name"] == name for m in models):
            raise ValueError(f"model {name!r} recorded twice")
        models.append({"name": name, "clean_acc": float(clean_acc), "chance": 1 / num_classes,
                       **({"weak_finding": weak_finding} if weak_finding else {})})
        return float(clean_acc)

    def _add(self, claim: Claim) -> Claim:
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"claim id {claim.id!r} used twice")
        self.claims.append(claim)
        return claim

    def check(self, id: str, zh: str, en: str, values: Mapping[str, Any], rule: str) -> Claim:
        """An invariant of the code, asserted at every profile."""
        return self._add(Claim(id, zh, en, dict(values), rule))

    def finding(self, id: str, zh: str, en: str, values: Mapping[str, Any], rule: str, *, evidence: Evidence,
                null: Mapping[str, Any] | None = None, expected: str | None = None,
                compares: Sequence[str] = (), small_scale: str | None = None) -> Claim:
        """A statement about the world, decided by ``rule`` and its ``evidence`` (holds / fails / inconclusive).

        ``compares`` names recorded models whose clean accuracies the comparison assumes to be matched (in
        run 0 and in every run whose models are recorded as "<name> (seed <s>)");
        ``small_scale`` explains why the finding is measured to reverse at the tiny profile (see :class:`Claim`)."""
        return self._add(Claim(id, zh, en, dict(values), rule, "finding", evidence,
                               dict(null) if null is not None else None, expected, self._confound(compares),
                               small_scale, tuple(compares)))

    def _confound(self, names: Sequence[str]) -> str | None:
        if not names:
            return None
        acc = {m["name"]: m["clean_acc"] for m in self.meta.get("models", [])}
        missing = [n for n in names if n not in acc]
        if missing:
            raise ValueError(f"compared models {missing} were not recorded with Result.model")
        # a comparison decided over runs compares each run's models too, recorded as "<name> (seed <s>)"
        suffixes = [""] + sorted({n[n.rindex(" (seed "):] for n in acc if n.endswith(")") and " (seed " in n})
        for suffix in suffixes:
            run = [n + suffix for n in names]
            if not all(n in acc for n in run):
                continue
            gap = max(acc[n] for n in run) - min(acc[n] for n in run)
            if gap > MATCHED_ACCURACY:
                return (f"clean accuracies of {', '.join(run)} differ by {gap * 100:.0f} points "
                        f"(> {MATCHED_ACCURACY * 100:.0f}): the comparison is confounded")
        return None

    def figure(self, name: str, fig: Any) -> Any:
        self.figures[name] = fig
        return fig

    def claim_values(self, claim_id: str) -> dict[str, Any]:
        """The measured values of a claim (for sentences on the page)."""
        return self.get_claim(claim_id).values

    @property
    def outcomes(self) -> dict[str, str]:
        """Each claim's outcome by its id ("holds", "fails", "inconclusive"): what a page's sentences branch on."""
        return {c.id: c.outcome for c in self.claims}

    def get_claim(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(f"{self.question_id} makes no claim {claim_id!r}")

    def problems(self) -> list[str]:
        """What keeps this result from being shown as it is: failing checks, findings without their wanted
        outcome at this profile, and unhealthy models (clean accuracy below 5× chance)."""
        out = []
        for m in self.meta.get("models", []):
            if m["clean_acc"] < HEALTHY_TIMES_CHANCE * m["chance"] and not self._weak_by_finding(m):
                out.append(f"model {m['name']}: clean accuracy {m['clean_acc']:.2f} is below "
                           f"{HEALTHY_TIMES_CHANCE}× chance ({HEALTHY_TIMES_CHANCE * m['chance']:.2f})"
                           + (f" and finding {m['weak_finding']!r} does not establish it" if m.get("weak_finding") else ""))
        for c in self.claims:
            why = c.problem(self.profile)
            if why:
                out.append(f"{c.id}: {why} ({c.en}; values {c.values}; rule {c.rule}"
                           + (f"; evidence {c.evidence.describe()}" if c.evidence else "")
                           + (f"; {c.confound}" if c.confound else "") + ")")
        return out

    def _weak_by_finding(self, model: Mapping[str, Any]) -> bool:
        """Whether a model below the health bar is the declared subject of a finding that is made and holds (an
        inconclusive finding, or one excused at tiny, does not establish it; see :meth:`model`)."""
        claim = next((c for c in self.claims if c.id == model.get("weak_finding")), None)
        return claim is not None and claim.kind == "finding" and claim.outcome == "holds"

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question_id, "profile": self.profile, "seed": self.seed,
                "meta": _plain(self.meta), "ok": self.ok, "problems": self.problems(),
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
        """The findings and the checks as two lists. In a strict build (``ANSWERS_STRICT=1``) a result with
        problems raises :class:`ClaimsNotMet`, which fails the page and so the build."""
        import os

        from IPython.display import Markdown
        problems = self.problems()
        if problems and os.environ.get("ANSWERS_STRICT") == "1":
            raise ClaimsNotMet(f"{self.question_id} at profile {self.profile}: " + " | ".join(problems))
        return Markdown(self.claims_markdown())

    def table_markdown(self, name: str, columns: Sequence[str] | None = None) -> str:
        t = self.tables[name]
        cols = list(columns) if columns else [c for c in t.columns if c != "key"]  # keys are for lookups
        lines = [f"**{t.title}**", "", "| " + " | ".join(t.label(c) for c in cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in t.rows]
        if t.note:
            lines += ["", t.note]
        return "\n".join(lines)

    def claims_markdown(self) -> str:
        findings = [c for c in self.claims if c.kind == "finding"]
        checks = [c for c in self.claims if c.kind == "check"]
        lines = []
        if findings:
            lines += ["#### 结论 Findings", "",
                      f"关于世界的陈述，在本页的 {self.profile} 配置下由数据和证据判定：✓ 成立，✗ 不成立，? 证据不足。",
                      "", "| | 结论 (finding) | 实测值 (measured) | 规则与证据 (rule, evidence) |", "|---|---|---|---|"]
            for c in findings:
                note = f"<br>预期结果 expected: {OUTCOME_ZH[c.expected]}" if c.expected else ""
                note += f"<br>{c.confound}" if c.confound else ""
                note += f"<br>小规模下会反转 reverses at tiny: {c.small_scale}" if c.small_scale else ""
                lines.append(f"| {_anchor(c)}{MARKS[c.outcome]} | {c.zh}<br><small>{c.en}</small> | {_values(c)} | "
                             f"`{c.rule}`<br><small>{c.evidence.describe()}{note}</small> |")
            lines.append("")
        if checks:
            lines += ["#### 自检 Checks", "", "代码的不变量，在每种配置下都必须成立。", "",
                      "| | 自检 (check) | 实测值 (measured) | 规则 (rule) |", "|---|---|---|---|"]
            lines += [f"| {_anchor(c)}{MARKS[c.outcome]} | {c.zh}<br><small>{c.en}</small> | {_values(c)} | `{c.rule}` |"
                      for c in checks]
        return "\n".join(lines)


MARKS = {"holds": "✓", "fails": "✗", "inconclusive": "?"}
OUTCOME_ZH = {"holds": "成立 holds", "fails": "不成立 fails", "inconclusive": "证据不足 inconclusive"}


def claim_anchor(claim_id: str) -> str:
    """The id of a claim's row on its answer page, the target the findings index links to (claim ids are unique
    within an answer)."""
    return f"claim-{claim_id}"


def _anchor(c: Claim) -> str:
    return f'<span id="{claim_anchor(c.id)}"></span>'


def _values(c: Claim) -> str:
    return ", ".join(f"{k} = {fmt(v)}" for k, v in c.values.items())


#: display headers for the columns several answers use — accuracies, costs (the fields of answers.lab.costs.Cost and
#: of timings), counts; a column of one answer only gets its header from that answer (its ``COLUMNS``, see
#: Result.columns). Identifiers stay in JSON and the CLI; pages show these.
COLUMN_LABELS: dict[str, str] = {
    "clean_acc": "干净准确率", "clean": "干净准确率", "robust_acc": "攻击下准确率", "gain": "多保住的准确率", "accuracy": "准确率",
    "worst_case": "最坏情况", "latency_b1_ms": "延迟 ms/图（批 1）", "latency_batch_ms": "延迟 ms/图（批内）",
    "spread_batch_ms": "四分位距 ms", "q1_batch_ms": "下四分位 ms", "q3_batch_ms": "上四分位 ms", "repeats": "计时次数",
    "throughput": "吞吐 图/s", "peak_mb": "峰值张量内存 MiB", "calls_per_image": "模型调用/图", "ms_per_image": "耗时 ms/图",
    "seconds": "耗时 s（中位数）", "iqr_s": "四分位距 s", "speedup": "加速比", "attacker": "攻击者", "attack": "攻击", "k": "k",
    "images": "图片数", "median": "中位数",
}


def label(column: str) -> str:
    """A table column's display header: Chinese with its unit where one is registered, else the name."""
    return COLUMN_LABELS.get(column, column)
