#!/usr/bin/env python3
"""make mutants: mutation testing of the core (answers/core, lab, kb, experiment, cli) with mutmut, then its score
per module.

    python scripts/mutants.py                                  # every core module, on the fast tests ([tool.mutmut])
    python scripts/mutants.py --only answers/lab/smoothing.py --tests tests/test_lab.py   # one module, some tests
    python scripts/mutants.py --report                         # the scores of what mutants/ holds, nothing run

mutmut works in mutants/ (a copy of the package holding every mutant, switched on one at a time) and keeps its
results there: a second run tests the mutants of functions that changed, and those no test killed last time.
``--only`` and ``--tests`` override [tool.mutmut]'s only_mutate and test selection for this run; a run with other
settings than the last starts over (mutants/ is removed). ``mutmut show NAME`` (run here) prints one mutant's
diff, ``mutmut browse`` all of them. Not part of make test or CI: the whole core is about 11 500 mutants.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "mutants" / ".answers-settings.json"


def report() -> None:
    """Print killed/total per mutated module (a timeout is counted apart) and list the mutants no test killed."""
    from mutmut.configuration import config
    from mutmut.stats import status_by_exit_code
    rows, survivors = [], []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        path = meta.relative_to(ROOT / "mutants").as_posix()[:-len(".meta")]
        if not config().should_mutate(path):
            continue                                    # left from a run with other settings
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        status = Counter(status_by_exit_code[c] for c in codes.values())
        rows.append((path, status, len(codes)))
        survivors += [(name, status_by_exit_code[c]) for name, c in sorted(codes.items())
                      if status_by_exit_code[c] not in ("killed", "timeout")]
    if not rows:
        print("mutants: no results in mutants/ (run `make mutants` first)")
        return
    head = (f"{'module':<34} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} {'other':>5} {'total':>5}"
            "  score")
    print(head + "\n" + "-" * len(head))
    total = Counter()
    for path, s, n in rows:
        other = n - s["killed"] - s["timeout"] - s["survived"] - s["no tests"]
        print(f"{path:<34} {s['killed']:>6} {s['timeout']:>7} {s['survived']:>8} {s['no tests']:>8} {other:>5} {n:>5}"
              f"  {s['killed']}/{n}" + (f" ({100 * s['killed'] / n:.0f}%)" if n else ""))
        total.update(s)
        total["total"] += n
    n = total["total"]
    print("-" * len(head) + f"\n{'all':<34} {total['killed']:>6} {total['timeout']:>7} {total['survived']:>8} "
          f"{total['no tests']:>8} {n - sum(total[k] for k in ('killed', 'timeout', 'survived', 'no tests')):>5} "
          f"{n:>5}  {total['killed']}/{n}" + (f" ({100 * total['killed'] / n:.0f}%)" if n else ""))
    if survivors:
        print("\nnot killed (mutmut show NAME for the diff; a timeout counts as caught):")
        for name, status in survivors:
            print(f"  {status:<12} {name}")


def retest_survivors(timeouts: bool = False) -> int:
    """Mark the mutants that survived (or had no test) in the last run as not yet checked: mutmut keeps a verdict
    until the function's own code changes, so a test written since to kill one would otherwise never be tried.
    With ``timeouts``, those that timed out too: on a busy machine a mutant can time out only because the tests ran
    slowly, and a timeout counts as caught."""
    from mutmut.configuration import config
    from mutmut.stats import status_by_exit_code
    n = 0
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        if not config().should_mutate(meta.relative_to(ROOT / "mutants").as_posix()[:-len(".meta")]):
            continue
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        retried = ("survived", "no tests") + (("timeout",) if timeouts else ())
        again = [k for k, c in codes.items() if c is not None and status_by_exit_code[c] in retried]
        if again:
            codes.update(dict.fromkeys(again))
            meta.write_text(json.dumps(data, indent=4))
            n += len(again)
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", default=[], metavar="GLOB",
                   help="mutate only these files (globs such as answers/lab/smoothing.py)")
    p.add_argument("--tests", nargs="+", default=[], metavar="ARG",
                   help="pytest arguments selecting the tests that are run (test files, -k ...)")
    p.add_argument("--jobs", type=int, default=None, help="mutants tested at once (default: the cores)")
    p.add_argument("--shared-weights", action="store_true",
                   help="let every mutant load the weights the first (unmutated) test session trained, instead of "
                        "training its own: many times faster, and right only for modules no training runs "
                        "(attacks, defenses, metrics, backdoor scores); a mutant that changes training is not seen")
    p.add_argument("--retest-timeouts", action="store_true",
                   help="also test again the mutants that timed out last time (run it on a quiet machine)")
    p.add_argument("--report", action="store_true", help="only print the scores of the last run")
    args = p.parse_args(argv)
    os.chdir(ROOT)                                      # mutmut reads pyproject.toml and writes mutants/ here
    from mutmut.configuration import config
    cfg = config()
    if args.only:
        cfg.only_mutate = args.only
    if args.tests:
        cfg.pytest_add_cli_args_test_selection = args.tests
    if args.report:
        report()
        return 0
    settings = {"only_mutate": cfg.only_mutate, "tests": cfg.pytest_add_cli_args_test_selection}
    if SETTINGS.is_file() and json.loads(SETTINGS.read_text()) != settings:
        # mutmut takes a file copied unmutated by a narrower run for one already mutated: start over
        print("mutants: other settings than the last run, starting over")
        shutil.rmtree(ROOT / "mutants")
    SETTINGS.parent.mkdir(exist_ok=True)
    SETTINGS.write_text(json.dumps(settings))
    if n := retest_survivors(args.retest_timeouts):
        print(f"mutants: {n} mutants no test killed last time" + (" (or that timed out)" if args.retest_timeouts else "")
              + " are tried again")
    # Every test session must train into a weight cache of its own: the cache keys weights by their code, and the
    # code in mutants/ is the same for every mutant (the mutant is chosen at run time), so a shared cache would
    # hand one mutant's weights to the next. Unset, tests/conftest.py gives each session a fresh one.
    os.environ.pop("ANSWERS_CACHE_DIR", None)
    if args.shared_weights:
        # mutmut's first session (the stats run) has no mutant switched on and trains every model the tests ask
        # for, keyed by the code in mutants/; each mutant's session then finds them there and trains nothing
        os.environ["ANSWERS_CACHE_DIR"] = str(ROOT / "mutants" / ".weights")
    from mutmut.__main__ import cli
    start = time.monotonic()
    cmd = ["run"] + (["--max-children", str(args.jobs)] if args.jobs else [])
    try:
        cli.main(cmd, prog_name="mutmut", standalone_mode=False)
    except SystemExit as e:
        if e.code:
            return int(e.code)
    print(f"\nmutants: mutmut ran {time.monotonic() - start:.0f} s\n")
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
