"""goodjob.testing used the way an application uses it: a real pytest run (a subprocess) of a test
module with the plugin, and a plain unittest run. The app and its tests are the README's example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import child_env

APP = '''
import goodjob

SENT = []


@goodjob.job(queue="mail")
def send_welcome(email: str) -> None:
    SENT.append(email)


class Flaky(goodjob.Job):
    error_policy = [goodjob.retry_on(ConnectionError, attempts=3)]

    def perform(self) -> None:
        SENT.append(f"flaky attempt {goodjob.current_job().attempt}")
        if goodjob.current_job().attempt < 3:
            raise ConnectionError("try again")


@goodjob.job
def nightly_report() -> None:
    send_welcome.perform_later_sync("boss@example.com")  # a job that enqueues another


def sign_up(email: str) -> None:
    """The application code under test: it enqueues a job."""
    send_welcome.perform_later_sync(email)
'''

TEST_PYTEST = '''
import pytest

import goodjob
from goodjob.testing import assert_enqueued, perform_enqueued_jobs_sync, refute_enqueued

import app

pytest_plugins = ["goodjob.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _fresh(goodjob_test):
    app.SENT.clear()


def test_sign_up_enqueues_a_welcome_mail():
    app.sign_up("ada@example.com")
    assert_enqueued(app.send_welcome, args=["ada@example.com"], queue="mail", count=1)
    refute_enqueued(app.send_welcome, args=["bob@example.com"])
    assert perform_enqueued_jobs_sync() == 1
    assert app.SENT == ["ada@example.com"]
    refute_enqueued(app.send_welcome)


def test_each_test_starts_empty():
    refute_enqueued(app.send_welcome)
    assert goodjob.jobs.count_sync() == 0


def test_jobs_enqueued_by_jobs_and_real_retries():
    app.nightly_report.perform_later_sync()
    app.Flaky.perform_later_sync()
    assert perform_enqueued_jobs_sync() == 5  # report, mail, flaky x3
    assert sorted(app.SENT) == ["boss@example.com", "flaky attempt 1", "flaky attempt 2", "flaky attempt 3"]


async def test_from_an_async_test():
    await app.send_welcome.perform_later("async@example.com")
    assert_enqueued(app.send_welcome, kwargs={})
    assert await goodjob.testing.perform_enqueued_jobs(queue="mail") == 1


def test_a_failing_assertion_shows_what_was_enqueued():
    app.sign_up("ada@example.com")
    app.send_welcome.set(queue="other").perform_later_sync("bob@example.com")
    with pytest.raises(AssertionError) as failure:
        assert_enqueued(app.send_welcome, args=["bob@example.com"], queue="mail")
    print("DIFF>>>" + str(failure.value) + "<<<DIFF")
    expected = "expected at least 1 enqueued app.send_welcome(args=('bob@example.com',), queue='mail'), found 0"
    assert expected in str(failure.value)
    assert "queue 'other' != 'mail'" in str(failure.value)


def test_deliberately_failing():
    app.sign_up("ada@example.com")
    refute_enqueued(app.send_welcome, args=["ada@example.com"])
'''

TEST_UNITTEST = '''
import goodjob
from goodjob.testing import GoodJobTestCase, assert_enqueued, perform_enqueued_jobs_sync

import app


class SignUpTest(GoodJobTestCase):
    def test_sign_up(self):
        app.SENT.clear()
        app.sign_up("ada@example.com")
        assert_enqueued(app.send_welcome, args=["ada@example.com"])
        perform_enqueued_jobs_sync()
        self.assertEqual(app.SENT, ["ada@example.com"])

    def test_empty(self):
        self.assertEqual(goodjob.jobs.count_sync(), 0)
'''


def _write(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "test_app.py").write_text(TEST_PYTEST)
    (tmp_path / "unit_app.py").write_text(TEST_UNITTEST)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings =\n    error\n    ignore::ResourceWarning\n")


def test_the_helpers_from_a_real_pytest_run(database_url: str, tmp_path: Path) -> None:
    _write(tmp_path)
    env = child_env(database_url)
    env["PYTHONPATH"] = str(tmp_path) + ":" + env["PYTHONPATH"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", "test_app.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    out = run.stdout + run.stderr
    assert "5 passed, 1 failed" in out or "1 failed, 5 passed" in out, out
    assert "FAILED test_app.py::test_deliberately_failing" in out
    assert "expected no enqueued app.send_welcome(args=('ada@example.com',)), found 1." in out
    assert "args=('ada@example.com',) kwargs={} queue='mail'   <- matches" in out
    diff = out.split("DIFF>>>")[1].split("<<<DIFF")[0]
    assert ("args=('ada@example.com',) kwargs={} queue='mail'   <- args ('ada@example.com',) != "
            "('bob@example.com',)") in diff


def test_the_helpers_from_plain_unittest(database_url: str, tmp_path: Path) -> None:
    _write(tmp_path)
    env = child_env(database_url)
    env["PYTHONPATH"] = str(tmp_path) + ":" + env["PYTHONPATH"]
    run = subprocess.run([sys.executable, "-m", "unittest", "-v", "unit_app"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "Ran 2 tests" in run.stderr and "OK" in run.stderr, run.stderr
