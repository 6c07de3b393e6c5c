"""The ``answers`` command: list the answers, run one, check the spine, scaffold a new one. It stands above
:mod:`answers.kb` and :mod:`answers.lab`, beside the answers (neither of them imports it).

Exit codes: 0 success; 1 a check fails, a finding lacks its wanted outcome at this profile, a model is
unhealthy, or the spine check found problems; 2 bad input (unknown id,
profile, seed or device — one line naming the valid choices — or a dataset missing from --data-dir)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .kb.question import PROFILES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: use a non-negative integer such as 0")
    return value


def _device(text: str) -> str:
    import torch
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"invalid device {text!r}: use cpu") from None
    if dev.type == "cuda":
        # some lab code still moves tensors to the CPU mid-way and peak memory reads CPU events only: refuse
        # rather than mix devices, until the lab is made device-consistent end to end
        raise argparse.ArgumentTypeError(f"device {text!r}: CUDA is not supported yet; use cpu")
    if dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"device {text!r} is not supported: use cpu")
    return text


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid jobs {text!r}: use a positive integer such as 2")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="answers", description="攻防问答: students' questions on attacking and defending image "
                "recognition, each answered by an experiment that runs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    ls = sub.add_parser("list", help="list the answers", description="List every answer module with its "
                        "asker, question and page.")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    run = sub.add_parser("run", help="run one answer and print its tables and claims",
                         description="Run an answer's experiment; prints its tables and claims (✓/✗). "
                         "Exit 1 if a check fails or a finding does not have its wanted outcome.")
    run.add_argument("id", help="question id, e.g. q08 (see 'answers list')")
    run.add_argument("--profile", default="site", choices=PROFILES,
                     help="tiny: seconds, for tests; site: what the site shows (≤ 1 min); full: paper scale")
    run.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); same seed on the same machine ⇒ "
                     "same numbers; on another machine the numbers may move but the verdicts must not (answers kernels)")
    run.add_argument("--device", type=_device, default="cpu", help="torch device (default cpu; CUDA is not "
                     "supported yet and is refused in one line)")
    run.add_argument("--json", action="store_true", help="print the result as JSON (claims with kind, outcome, "
                     "values and evidence; models with clean accuracy)")
    run.add_argument("--figures", metavar="DIR", help="also save the figures as PNG files in DIR")
    run.add_argument("--data-dir", metavar="DIR", help="a folder of datasets read from your disk, never downloaded: "
                     "q06's full profile trains on CIFAR-10 from DIR/cifar-10-batches-py (sets ANSWERS_DATA_DIR)")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    run.add_argument("--fresh", action="store_true", help="recompute even if the result cache holds this answer's "
                     "result for unchanged code, profile and seed (ANSWERS_FRESH=1 does the same)")
    bld = sub.add_parser("build", help="compute every answer's result, several at once, before the pages execute",
                         description="Run the answers (answers run --json), JOBS processes at a time, longest first, "
                         "and store their results in the result cache: a site build (make build, make serve) then "
                         "only draws the pages. Each process keeps the threads of a one-process build, so the "
                         "numbers are the same (ANSWERS_THREADS=1 runs faster with other rounding). Exit 1 if an "
                         "answer fails or has a claim without its wanted outcome.")
    bld.add_argument("ids", nargs="*", metavar="ID", help="answers to compute (default: all)")
    bld.add_argument("--profile", default="site", choices=PROFILES, help="the profile to compute (default site)")
    bld.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    bld.add_argument("--jobs", type=_jobs, default=None, help="answers computed at once (default: one per core)")
    bld.add_argument("--fresh", action="store_true", help="recompute results the cache holds for unchanged code")
    ker = sub.add_parser("kernels", help="run answers under three CPU kernel profiles and compare their verdicts",
                         description="Run each answer (answers run --fresh --json) under the machine's own kernels, "
                         "with ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS at AVX2, and at "
                         "their lowest — each level with its own weight cache, trained from scratch — and list every "
                         "claim whose outcome moves between levels or misses its wanted outcome. Another CPU rounds "
                         "differently: this is the step before a new finding is published. Slow (on 2 cores, five "
                         "answers took half an hour at AVX2 and an hour at the lowest level); exit 1 if any claim "
                         "moved.")
    ker.add_argument("ids", nargs="*", metavar="ID", help="answers to check (default: all)")
    ker.add_argument("--profile", default="site", choices=PROFILES, help="the profile the verdicts are decided at "
                     "(default site)")
    ker.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    ker.add_argument("--levels", default="native,avx2,lowest", help="comma-separated kernel levels "
                     "(default native,avx2,lowest)")
    ker.add_argument("--cache-dir", metavar="DIR", help="where each level's weight cache lives (default: "
                     "<answers cache>/kernels/<level>)")
    ker.add_argument("--keep-weights", action="store_true", help="reuse each level's weights from an earlier check "
                     "instead of training them from scratch")
    ker.add_argument("--json", action="store_true", help="machine-readable output (every run's outcomes and the "
                     "claims that moved)")
    chk = sub.add_parser("check", help="verify the spine (pages, tests, citations, course coverage)",
                         description="Check that every answer has a page and a test, every cited key is in "
                         "references.bib, every entry is cited, and every course-page asker is covered.")
    chk.add_argument("--json", action="store_true", help="machine-readable output")
    cache = sub.add_parser("cache", help="list or clear the trained-model cache",
                           description="The weight cache (ANSWERS_CACHE_DIR, else the user cache folder): list its "
                           "entries or delete them (models retrain on next use).")
    cache_sub = cache.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    cache_ls = cache_sub.add_parser("ls", help="list cached models", description="List cached models: kind, size, "
                                    "age, the seconds their training took, file.")
    cache_ls.add_argument("--json", action="store_true", help="machine-readable output")
    cache_sub.add_parser("clear", help="delete every cached model", description="Delete every cached model; "
                         "they retrain on next use.")
    zoo = sub.add_parser("zoo", help="the models the answers use, with their training cost",
                         description="The zoo's models as the answers' stored results record them.")
    zoo_sub = zoo.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    zoo_ls = zoo_sub.add_parser("ls", help="list the models the site uses", description="Every zoo model the "
                                "answers' stored results (answers build, a site build) say they took: its recipe, the "
                                "training spec it is cached as, the seconds its training took, whether the weight "
                                "cache holds it now, and the answers using it, per profile.")
    zoo_ls.add_argument("--profile", default="tiny,site", help="comma-separated profiles (default tiny,site)")
    zoo_ls.add_argument("--json", action="store_true", help="machine-readable output")
    new = sub.add_parser("new", help="scaffold a new answer (module, page, test)",
                         description="Write answers/qNN_slug.py, docs/qNN-slug.py and tests/test_qNN_slug.py with a "
                         "small working experiment to replace. Asker and question come from the course page when "
                         "the id is one of its questions. Never overwrites a file.")
    new.add_argument("id", help="question id, e.g. q09")
    new.add_argument("slug", help="page name: lower-case words joined by '-', e.g. defend-by-retraining")
    new.add_argument("--asker", help="who asked (default: from the course page)")
    new.add_argument("--question", help="the question as asked (default: from the course page)")
    new.add_argument("--title-zh", help="short Chinese title (default: the question's start)")
    new.add_argument("--title-en", help="short English title (default: from the slug)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = {"list": _list, "run": _run, "build": _build, "kernels": _kernels, "check": _check, "cache": _cache,
                "zoo": _zoo, "new": _new}[args.command](args)
    except KeyboardInterrupt:
        print("answers: interrupted", file=sys.stderr)
        code = 130
    from .core import ranks
    if ranks.launched():   # torchrun ... -m answers run: leave the process group, skip the teardown
        ranks.leave(code)
    return code


def _list(args: argparse.Namespace) -> int:
    from .kb import registry
    answers = registry.all_answers()
    if args.json:
        print(json.dumps([{"id": a.id, "slug": a.question.slug, "asker": a.question.asker,
                           "section": a.question.section, "question": a.question.question_zh,
                           "title_en": a.question.title_en, "title_zh": a.question.title_zh,
                           "page": f"docs/{a.question.page}", "cites": list(a.question.cites)} for a in answers],
                         ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    t = Table("id", "提问者 asker", "问题 question", "title", "page")
    for a in answers:
        q = a.question
        t.add_row(q.id, q.asker, q.question_zh, f"{q.title_zh}\n{q.title_en}", f"docs/{q.page}")
    Console().print(t)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from .kb import registry
    try:
        answer = registry.get(args.id)
    except registry.UnknownQuestion as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import os

    from .core import ranks
    from .kb.result_cache import cached_run
    from .lab.data import DATA_DIR_ENV, DataMissing
    if args.data_dir:
        os.environ[DATA_DIR_ENV] = str(Path(args.data_dir).expanduser().resolve())
    t0 = time.perf_counter()
    try:
        result = cached_run(answer.run, profile=args.profile, seed=args.seed, device=args.device,
                            progress=False if (args.no_progress or args.json) else None, fresh=args.fresh or None)
    except DataMissing as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result.meta["seconds"] = round(time.perf_counter() - t0, 2)
    if not ranks.is_main():  # under torchrun every process ran the answer; rank 0 reports it
        return EXIT_FAILED if result.problems() else EXIT_OK
    if args.figures:
        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in result.figures.items():
            fig.savefig(out / f"{result.question_id}-{name}.png")
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_result(result)
    problems = result.problems()
    for line in problems if not args.json else ():
        print(f"answers: {line}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from .kb import build, registry
    try:
        qids = [registry.get(q).id for q in args.ids] or [a.id for a in registry.all_answers()]
    except registry.UnknownQuestion as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    jobs = args.jobs or build.default_jobs()
    print(f"answers build: {len(qids)} answer(s) at profile {args.profile}, {jobs} at a time", file=sys.stderr)
    outcomes = build.build(qids, args.profile, args.seed, jobs, args.fresh,
                           report=lambda line: print(line, file=sys.stderr, flush=True))
    failed = [o.qid for o in outcomes if not o.ok]
    if failed:
        print(f"answers build: not as wanted: {', '.join(failed)} (answers run ID shows why)", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _kernels(args: argparse.Namespace) -> int:
    from .kb import kernels, registry
    levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    unknown = [lv for lv in levels if lv not in kernels.LEVELS]
    if unknown or not levels:
        print(f"answers: error: unknown kernel level(s) {unknown}; choose from {', '.join(kernels.LEVELS)}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        qids = [registry.get(q).id for q in args.ids] or [a.id for a in registry.all_answers()]
    except registry.UnknownQuestion as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.cache_dir:
        root = Path(args.cache_dir).expanduser().resolve()
    else:
        from .core.files import cache_dir
        root = cache_dir() / "kernels"
    print(f"answers kernels: {len(qids)} answer(s) × {len(levels)} level(s) at profile {args.profile}, weights under "
          f"{root}", file=sys.stderr)
    runs = kernels.check(qids, levels, root, args.profile, args.seed, args.keep_weights,
                         report=lambda line: print(line, file=sys.stderr, flush=True))
    rows = kernels.moved(runs, args.profile)
    if args.json:
        print(json.dumps({"levels": {lv: kernels.LEVELS[lv] for lv in levels}, "moved": rows,
                          "runs": [{"answer": r.qid, "level": r.level, "seconds": round(r.seconds, 1),
                                    "kernel": r.kernel, "error": r.error,
                                    "claims": {c: v["outcome"] for c, v in r.claims.items()}} for r in runs]},
                         ensure_ascii=False, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table
        claims = sum(len(r.claims) for r in runs if r.level == levels[0])
        t = Table("answer", "claim", "kind", "wanted", *levels, title=f"claims that moved or miss their wanted "
                  f"outcome ({len(rows)} of {claims})", title_justify="left")
        for row in rows:
            t.add_row(row["answer"], row["claim"], row["kind"], row["wanted"], *(row.get(lv, "–") for lv in levels))
        Console().print(t)
    return EXIT_FAILED if rows else EXIT_OK


def _print_result(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from .kb.result import fmt
    console = Console()
    measured = result.meta.get("measured", {})
    reused = (f", reused the result measured {measured['at']} with code {measured['code']} (--fresh recomputes)"
              if measured.get("reused") else "")
    console.print(f"[bold]{result.question_id}[/bold] profile={result.profile} seed={result.seed} "
                  f"({result.meta.get('seconds', '?')} s{reused})")
    for tab in result.tables.values():
        t = Table(title=tab.title, title_justify="left")
        for col in tab.columns:  # fold long headers and cells instead of cutting them off
            t.add_column(col, overflow="fold")
        for row in tab.rows:
            t.add_row(*(fmt(row.get(c, "")) for c in tab.columns))
        console.print(t)
        if tab.note:
            console.print(tab.note, style="dim")
    marks = {"holds": "[green]✓[/green]", "fails": "[red]✗[/red]", "inconclusive": "[yellow]?[/yellow]"}
    for kind, heading in (("finding", "findings (结论)"), ("check", "checks (自检)")):
        claims = [c for c in result.claims if c.kind == kind]
        if not claims:
            continue
        counts = ", ".join(f"{sum(c.outcome == o for c in claims)} {o}" for o in marks)
        console.print(f"\n[bold]{heading}: {counts}[/bold]")
        for c in claims:
            vals = ", ".join(f"{k}={fmt(v)}" for k, v in c.values.items())
            extra = ""
            if c.evidence is not None:
                extra = f"\n    [dim]evidence: {c.evidence.describe()}[/dim]"
            if c.expected:
                extra += f"\n    [dim]expected: {c.expected}[/dim]"
            if c.confound:
                extra += f"\n    [dim]{c.confound}[/dim]"
            console.print(f"{marks[c.outcome]} {c.id}: {c.zh}\n    {c.en}\n    [dim]{vals}  ⟸ {c.rule}[/dim]{extra}")
    for m in result.meta.get("models", []):
        weak = f" (did not learn: the subject of finding {m['weak_finding']})" if m.get("weak_finding") else ""
        console.print(f"[dim]model {m['name']}: clean accuracy {m['clean_acc']:.3f}{weak}[/dim]")


def _check(args: argparse.Namespace) -> int:
    from .kb.check import run_checks
    try:
        rep = run_checks()
    except FileNotFoundError as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"ok": rep.ok, "problems": rep.problems}, ensure_ascii=False, indent=2))
    else:
        for line in rep.ok:
            print(f"✓ {line}")
        for line in rep.problems:
            print(f"✗ {line}")
        print(f"answers check: {len(rep.problems)} problem(s)")
    return EXIT_FAILED if rep.problems else EXIT_OK


def _cache(args: argparse.Namespace) -> int:
    from .kb.result_cache import results_dir
    from .lab import cache
    root = cache.cache_dir()
    if args.action == "clear":
        stored = list(results_dir().glob("*.pkl"))
        for f in results_dir().glob("*.pkl*"):
            f.unlink(missing_ok=True)
        print(f"answers cache: removed {cache.clear(root)} model(s) and {len(stored)} result(s) from {root}")
        return EXIT_OK
    entries = cache.entries(root)
    if args.json:
        print(json.dumps({"dir": str(root), "entries": entries}, ensure_ascii=False, indent=2))
        return EXIT_OK
    now = time.time()
    print(f"{'model':<40} {'size':>12}  {'age':>9}  {'training':>9}  file")
    for e in entries:
        trained = "–" if e["seconds"] is None else f"{e['seconds']:.1f} s"
        print(f"{e['what']:<40} {e['size'] / 1024:8.1f} KiB  {(now - e['created']) / 3600:7.1f} h  {trained:>9}  "
              f"{Path(e['path']).name}")
    total = sum(e["size"] for e in entries)
    print(f"{len(entries)} model(s), {total / 2**20:.1f} MiB in {root}")
    return EXIT_OK


def _zoo(args: argparse.Namespace) -> int:
    from .core.files import cache_dir
    from .kb import registry
    from .kb.findings import AnswerResult
    from .kb.result_cache import stored_result
    from .kb.times import models_used
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown or not profiles:
        print(f"answers: error: unknown profile(s) {unknown}; choose from {', '.join(PROFILES)}", file=sys.stderr)
        return EXIT_USAGE
    rows, missing = [], []
    for profile in profiles:
        stored = []
        for a in registry.all_answers():
            result = stored_result(a.run, profile=profile)
            if result is None:
                missing.append(f"{a.id}@{profile}")
            else:
                stored.append(AnswerResult(a.id, a.question.title_zh, "", result))
        for file, m in models_used(stored).items():
            rows.append({"profile": profile, "recipe": m["recipe"], "what": m["what"], "seconds": m["seconds"],
                         "cached": (cache_dir() / file).exists(), "used_by": m["used_by"], "file": file})
    if args.json:
        print(json.dumps({"models": rows, "not_stored": missing}, ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    t = Table("profile", "recipe", "trained as", "training s", "cached", "used by", title=f"{len(rows)} model(s)",
              title_justify="left")
    for r in rows:
        t.add_row(r["profile"], r["recipe"] or "–", r["what"], "–" if r["seconds"] is None else f"{r['seconds']:.1f}",
                  "✓" if r["cached"] else "–", ", ".join(r["used_by"]))
    Console().print(t)
    if missing:
        print(f"answers zoo: no stored result (for the current code) of {', '.join(missing)}; `answers build "
              f"--profile P` stores them", file=sys.stderr)
    return EXIT_OK


def _new(args: argparse.Namespace) -> int:
    from .kb.check import project_root
    from .kb.scaffold import ScaffoldError, write
    try:
        root = project_root()
        made = write(root, args.id, args.slug, asker=args.asker, question=args.question, title_zh=args.title_zh,
                     title_en=args.title_en)
    except (ScaffoldError, FileNotFoundError) as exc:
        print(f"answers: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in made.paths:
        print(f"wrote {path.relative_to(root)}")
    print(f"next: replace the TODOs, then 'answers run {args.id} --profile tiny', 'answers check' and "
          f"'pytest {made.test.relative_to(root)}'")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
