"""The first cell of every answer page, in one call: ``result = page_result("q08")`` — the answer's result at the
build's profile (``ANSWERS_PROFILE``, default site), from the result cache or computed now, after printing when and
with which code it was measured, the run's settings and each model's clean accuracy. The page's later cells show
its tables, figures and claims."""
from __future__ import annotations

import os

from . import registry
from .result import Result
from .result_cache import cached_run, measured_line


def page_result(qid: str) -> Result:
    """The result a page shows (see the module's doc); prints its provenance and models as the page's first output."""
    result = cached_run(registry.get(qid).run, profile=os.environ.get("ANSWERS_PROFILE", "site"), progress=False)
    print(measured_line(result))
    print(f"threads={result.meta.get('threads')}")   # the line above names the profile and the seed
    for m in result.meta.get("models", []):
        acc = f": clean accuracy {m['clean_acc']:.3f}" if "clean_acc" in m else ""
        weak = f"  (did not learn: finding {m['weak_finding']})" if m.get("weak_finding") else ""
        print(f"  model {m['name']}{acc}{weak}")
    return result
