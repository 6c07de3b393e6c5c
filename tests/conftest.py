"""Shared fixtures: one tiny run per answer, one strict site build, both reused by several test files."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


_OWN_CACHE: list[str] = []


def pytest_configure(config):
    # tests never touch the user's weight cache; `make test` points this at .cache/ so reruns are warm. Set before
    # collection: the site's answers start computing then (pytest_collection_modifyitems)
    if "ANSWERS_CACHE_DIR" not in os.environ:
        os.environ["ANSWERS_CACHE_DIR"] = tempfile.mkdtemp(prefix="answers-test-weights-")
        _OWN_CACHE.append(os.environ["ANSWERS_CACHE_DIR"])


def pytest_unconfigure(config):
    # a session that ends early (-x, Ctrl-C, a subset of tests) leaves no build running behind it
    _SiteBuild.stop()
    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)


_results: dict = {}


@pytest.fixture(scope="session")
def tiny_result():
    """``tiny_result("q08")``: that answer's Result at the tiny profile, computed once per session."""
    from answers.kb import registry
    from answers.kb.result_cache import cached_run

    def get(qid: str):
        if qid not in _results:
            # always measured anew, and stored: the contributor flow's build (run last) reuses it
            _results[qid] = cached_run(registry.get(qid).run, profile="tiny", seed=0, progress=False, fresh=True)
        return _results[qid]
    return get


def pytest_collection_modifyitems(session, config, items):
    # the contributor flow builds the whole site at tiny: after the answers' own tests it reuses the tiny results
    # they stored instead of computing all ten a second time. The tests of the built site come last: its answers
    # are computed in processes of their own (answers build) while the other tests run
    items.sort(key=lambda item: ("built_site" in item.fixturenames, item.path.name == "test_new_answer_flow.py"))


def pytest_collection_finish(session):
    # the tests that will run are known (-k and -m have deselected theirs): start the site's answers if one needs it
    if not session.config.option.collectonly and any("built_site" in item.fixturenames for item in session.items):
        _SiteBuild.start()


#: the profile the site is built at in the tests: the one readers see, where findings are decided
SITE_PROFILE = os.environ.get("ANSWERS_TEST_SITE_PROFILE", "site")


class _SiteBuild:
    """The site's answers computed afresh, several at once (``answers build --fresh``), in the background from
    the start of the session; :func:`built_site` waits for them."""

    proc: subprocess.Popen | None = None
    log: Path | None = None

    @classmethod
    def start(cls) -> None:
        if cls.proc is None:
            cls.log = Path(tempfile.mkdtemp(prefix="answers-site-build-")) / "build.log"
            env = {**{k: v for k, v in os.environ.items() if k != "ANSWERS_FRESH"}, "ANSWERS_BUILD_WATCH_PARENT": "1"}
            with open(cls.log, "wb") as log:
                # a process group of its own, so that stopping it stops the answers it runs
                cls.proc = subprocess.Popen([sys.executable, "-m", "answers", "build", "--profile", SITE_PROFILE,
                                             "--fresh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @classmethod
    def stop(cls) -> None:
        if cls.proc is not None and cls.proc.poll() is None:
            os.killpg(cls.proc.pid, signal.SIGTERM)
            try:
                cls.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cls.proc.pid, signal.SIGKILL)

    @classmethod
    def wait(cls, timeout: float) -> str:
        cls.start()
        cls.proc.wait(timeout=timeout)
        return cls.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The whole site built with ``mkdocs build --strict`` at the site profile: every answer computed afresh in
    this session (``answers build --fresh``, started with the session) and every page executed on what it
    computed (a check that fails or a finding without its wanted outcome fails the build, see
    ``Result.show_claims``). The time limits only guard against a hang: on a busy machine the cold build takes
    far longer than its quiet half hour."""
    # how the answers fared is for the strict build to judge: it shows each page's failing claims
    log = _SiteBuild.wait(timeout=9000)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "ANSWERS_PROFILE": SITE_PROFILE, "ANSWERS_STRICT": "1", "ANSWERS_EXECUTE_PAGES": "1",
           "NO_MKDOCS_2_WARNING": "1"}
    env.pop("ANSWERS_FRESH", None)   # the results were just computed: the pages read them
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=3000)
    # the build's outcome lines (each answer's start and end, its claims or its error), not its progress lines
    outcomes = "\n".join(line for line in log.splitlines() if not re.search(r"\] \S+ running [\d.]+ min — ", line))
    assert proc.returncode == 0, (f"strict build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}\n"
                                  f"answers build:\n{outcomes[-3000:]}")
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
