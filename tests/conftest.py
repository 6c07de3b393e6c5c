"""Shared fixtures: one tiny run per answer, one strict site build, both reused by several test files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    # tests never touch the user's weight cache; `make test` points this at .cache/ so reruns are warm
    if "ANSWERS_CACHE_DIR" not in os.environ:
        os.environ["ANSWERS_CACHE_DIR"] = str(tmp_path_factory.mktemp("weights"))
    yield


_results: dict = {}


@pytest.fixture(scope="session")
def tiny_result():
    """``tiny_result("q08")``: that answer's Result at the tiny profile, computed once per session."""
    from answers.kb import registry
    from answers.kb.results import cached_run

    def get(qid: str):
        if qid not in _results:
            # always measured anew, and stored: the contributor flow's build (run last) reuses it
            _results[qid] = cached_run(registry.get(qid).run, profile="tiny", seed=0, progress=False, fresh=True)
        return _results[qid]
    return get


def pytest_collection_modifyitems(session, config, items):
    # the contributor flow builds the whole site at tiny: after the answers' own tests it reuses the tiny results
    # they stored instead of computing all ten a second time
    items.sort(key=lambda item: item.path.name == "test_new_answer_flow.py")


#: the profile the site is built at in the tests: the one readers see, where findings are decided
SITE_PROFILE = os.environ.get("ANSWERS_TEST_SITE_PROFILE", "site")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The whole site built with ``mkdocs build --strict`` at the site profile (every answer executed; a check
    that fails or a finding without its wanted outcome fails the build, see ``Result.show_claims``)."""
    out = tmp_path_factory.mktemp("site")
    # ANSWERS_FRESH: every answer recomputed and every page executed, never a stored result; the time limit only
    # guards against a hang: on a busy machine the cold build takes far longer than its 25-30 quiet minutes
    env = {**os.environ, "ANSWERS_PROFILE": SITE_PROFILE, "ANSWERS_STRICT": "1", "ANSWERS_FRESH": "1",
           "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=4800)
    assert proc.returncode == 0, f"strict build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return out


def assert_claim_acceptable(result, claim_id: str) -> None:
    """The named claim is acceptable at the result's profile (a check holds; at tiny a finding does not fail
    unless it declares so); the failure message shows its values, rule and evidence."""
    claim = next(c for c in result.claims if c.id == claim_id)
    why = claim.problem(result.profile)
    evidence = claim.evidence.describe() if claim.evidence else "-"
    assert why is None, (f"{claim.id} ({claim.kind}): {why}: {claim.en}\n  values: {claim.values}\n"
                         f"  rule: {claim.rule}\n  evidence: {evidence}")


def claim_suite(qid: str, claims: list[str]):
    """The tests every answer's file starts with: the answer's tiny ``result`` (a module fixture), the claims it
    makes (exactly ``claims``, in order), each of them acceptable at tiny (checks hold, no finding fails) and
    every model it rests on healthy. In a test file::

        result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy = claim_suite("q08", CLAIMS)
    """
    @pytest.fixture(scope="module")
    def result(tiny_result):
        return tiny_result(qid)

    def test_every_expected_claim_is_made(result):
        assert [c.id for c in result.claims] == claims

    @pytest.mark.parametrize("claim_id", claims)
    def test_claim_at_tiny(result, claim_id):
        assert_claim_acceptable(result, claim_id)

    def test_models_healthy(result):
        models = result.meta.get("models", [])
        assert models, "the result lists no models with their clean accuracy"
        # a model below the bar is acceptable only as the declared subject of a finding that establishes it
        sick = [m for m in models if m["clean_acc"] < 5 * m["chance"] and not result._weak_by_finding(m)]
        assert not sick, f"models below 5× chance clean accuracy: {sick}"

    return result, test_every_expected_claim_is_made, test_claim_at_tiny, test_models_healthy


COUNTED_RUNS: list[tuple] = []


def counted_run(profile="site", seed=0, device="cpu", progress=None):
    """A stand-in answer for the result cache (tests of cached_run): records each real run in COUNTED_RUNS."""
    from answers.kb.result import Result
    COUNTED_RUNS.append((profile, seed))
    r = Result("q00", profile, seed)
    r.check("ran", "运行", "ran", {"n": len(COUNTED_RUNS)}, "n >= 1")
    return r
