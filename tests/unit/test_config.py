"""Config loading: every option from env, code and CLI; precedence; messages that name the source."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from goodjob.core import config as config_module
from goodjob.core.config import (
    ENV_VARS,
    Config,
    configure,
    current_config,
    load_config,
    mask_database_url,
    reset_configuration,
)
from goodjob.core.errors import ConfigurationError, QueueStringError


def on_error(exc: BaseException) -> None:
    """Target for GOOD_JOB_ON_THREAD_ERROR import-path tests."""


NOT_CALLABLE = 42


def env(**values: str) -> Config:
    return load_config(environ={ENV_VARS[name]: text for name, text in values.items()})


def fails(match: str, **kwargs: object) -> ConfigurationError:
    with pytest.raises(ConfigurationError, match=match) as info:
        load_config(**kwargs)  # type: ignore[arg-type]
    return info.value


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (*ENV_VARS.values(), "DATABASE_URL", "GOOD_JOB_ENV"):
        monkeypatch.delenv(var, raising=False)
    reset_configuration()
    yield
    reset_configuration()


def test_defaults_live_in_config() -> None:
    config = load_config(environ={})
    assert config == Config()
    assert config.execution_mode == "external"
    assert (config.max_threads, config.queues, config.poll_interval, config.max_cache) == (5, "*", 1.0, 10000)
    assert config.shutdown_timeout == -1
    assert config.preserve_job_records is False and config.retry_on_unhandled_error is True
    assert config.on_thread_error is None and config.logger is logging.getLogger("goodjob")
    assert config.idle_timeout is None and config.probe_port is None
    assert config.pidfile == "tmp/pids/goodjob.pid" and config.daemonize is False
    assert config.cleanup_preserved_jobs_before_seconds_ago == 86400
    assert (config.cleanup_interval_jobs, config.cleanup_interval_seconds) == (1000, 600)
    assert config.enable_cron is False and config.cron is None
    assert config.embedded is True and config.embedded_dir is None and config.embedded_idle_timeout == 900
    assert config.database_pool_size == 10
    assert config.dashboard_username is None and config.dashboard_password is None


def test_env_vars_cover_every_field() -> None:
    assert set(ENV_VARS) == {f.name for f in dataclasses.fields(Config)}
    assert ENV_VARS["max_threads"] == "GOOD_JOB_MAX_THREADS"
    assert all(var.startswith("GOOD_JOB_") for var in ENV_VARS.values())


ENV_CASES: list[tuple[str, str, object]] = [
    ("database_url", "postgresql://u:p@db:5432/app", "postgresql://u:p@db:5432/app"),
    (
        "database_url",
        "postgres://u@/app?host=/var/run/postgresql",
        "postgres://u@/app?host=/var/run/postgresql",
    ),
    ("database_url", "postgresql+asyncpg://u@h/app", "postgresql://u@h/app"),
    ("execution_mode", "async_server", "async_server"),
    ("execution_mode", " :Async ", "async"),
    ("execution_mode", "INLINE", "inline"),
    ("max_threads", "12", 12),
    ("queues", "mail:2;*", "mail:2;*"),
    ("poll_interval", "2.5", 2.5),
    ("poll_interval", "-1", -1.0),
    ("max_cache", "0", 0),
    ("shutdown_timeout", "25", 25.0),
    ("shutdown_timeout", "0", 0.0),
    ("preserve_job_records", "yes", True),
    ("preserve_job_records", "off", False),
    ("preserve_job_records", "on_unhandled_error", "on_unhandled_error"),
    ("retry_on_unhandled_error", "false", False),
    ("idle_timeout", "30", 30.0),
    ("probe_port", "7001", 7001),
    ("pidfile", "/run/gj.pid", "/run/gj.pid"),
    ("daemonize", "1", True),
    ("cleanup_preserved_jobs_before_seconds_ago", "3600", 3600.0),
    ("cleanup_interval_jobs", "50", 50),
    ("cleanup_interval_jobs", "-1", None),
    ("cleanup_interval_jobs", "off", None),
    ("cleanup_interval_seconds", "60", 60.0),
    ("cleanup_interval_seconds", "OFF", None),
    ("enable_cron", "on", True),
    ("cron", '{"x": {"cron": "* * * * *", "class": "X"}}', '{"x": {"cron": "* * * * *", "class": "X"}}'),
    ("embedded", "false", False),
    ("embedded_dir", "/data/gj", "/data/gj"),
    ("embedded_idle_timeout", "off", None),
    ("embedded_idle_timeout", "60", 60.0),
    ("database_pool_size", "3", 3),
    ("dashboard_username", "admin", "admin"),
    ("dashboard_password", "s3cret", "s3cret"),
]


@pytest.mark.parametrize(("name", "text", "expected"), ENV_CASES)
def test_every_option_from_env(name: str, text: str, expected: object) -> None:
    assert getattr(env(**{name: text}), name) == expected


def test_callable_and_logger_from_env() -> None:
    config = env(on_thread_error=f"{__name__}:on_error", logger="myapp.jobs")
    assert config.on_thread_error is on_error
    assert config.logger is logging.getLogger("myapp.jobs")
    assert env(on_thread_error=f"{__name__}.on_error").on_thread_error is on_error


def test_empty_env_values_count_as_unset() -> None:
    assert env(max_threads="", queues="  ") == Config()


ENV_ERRORS = [
    ("max_threads", "abc",
     "GOOD_JOB_MAX_THREADS='abc' is not a valid integer; expected a whole number from 1 to 10000"),
    ("max_threads", "0", "GOOD_JOB_MAX_THREADS='0' must be between 1 and 10000"),
    ("max_threads", "2.5", "GOOD_JOB_MAX_THREADS='2.5' is not a valid integer"),
    (
        "execution_mode",
        "fast",
        "GOOD_JOB_EXECUTION_MODE='fast' is not a valid execution mode; expected one of",
    ),
    ("poll_interval", "0", "GOOD_JOB_POLL_INTERVAL='0' must be > 0, or -1 to disable polling"),
    ("poll_interval", "soon", "GOOD_JOB_POLL_INTERVAL='soon' is not a valid number"),
    ("poll_interval", "nan", "GOOD_JOB_POLL_INTERVAL='nan' must be a finite number"),
    ("max_cache", "-5", "GOOD_JOB_MAX_CACHE='-5' must be >= 0"),
    ("shutdown_timeout", "-2", "GOOD_JOB_SHUTDOWN_TIMEOUT='-2' must be >= 0, or -1 to wait forever"),
    (
        "preserve_job_records",
        "maybe",
        "GOOD_JOB_PRESERVE_JOB_RECORDS='maybe' is not a valid value; expected true",
    ),
    ("retry_on_unhandled_error", "nah", "GOOD_JOB_RETRY_ON_UNHANDLED_ERROR='nah' is not a valid boolean"),
    (
        "on_thread_error",
        "no_such_module_xyz:f",
        "GOOD_JOB_ON_THREAD_ERROR='no_such_module_xyz:f' cannot be imported",
    ),
    (
        "on_thread_error",
        f"{__name__}:missing",
        f"GOOD_JOB_ON_THREAD_ERROR='{__name__}:missing' cannot be imported",
    ),
    ("on_thread_error", f"{__name__}:NOT_CALLABLE", "GOOD_JOB_ON_THREAD_ERROR=.* must be callable, not int"),
    ("on_thread_error", "nodots", "GOOD_JOB_ON_THREAD_ERROR='nodots' is not an import path"),
    ("idle_timeout", "0", "GOOD_JOB_IDLE_TIMEOUT='0' must be > 0"),
    ("probe_port", "70000", "GOOD_JOB_PROBE_PORT='70000' must be between 1 and 65535"),
    ("probe_port", "http", "GOOD_JOB_PROBE_PORT='http' is not a valid integer; expected a port number"),
    ("daemonize", "sure", "GOOD_JOB_DAEMONIZE='sure' is not a valid boolean"),
    (
        "cleanup_preserved_jobs_before_seconds_ago",
        "-1",
        "GOOD_JOB_CLEANUP_PRESERVED_JOBS_BEFORE_SECONDS_AGO='-1'",
    ),
    ("cleanup_interval_jobs", "0", "GOOD_JOB_CLEANUP_INTERVAL_JOBS='0' must be >= 1, or -1 to disable"),
    ("cleanup_interval_seconds", "never", "GOOD_JOB_CLEANUP_INTERVAL_SECONDS='never' is not a valid number"),
    ("enable_cron", "2", "GOOD_JOB_ENABLE_CRON='2' is not a valid boolean"),
    ("embedded", "perhaps", "GOOD_JOB_EMBEDDED='perhaps' is not a valid boolean"),
    ("database_pool_size", "0", "GOOD_JOB_DATABASE_POOL_SIZE='0' must be >= 1"),
    (
        "database_url",
        "mysql://root@db/app",
        "GOOD_JOB_DATABASE_URL='mysql://root@db/app' is not a postgres://",
    ),
    ("database_url", "localhost:5432/app", "GOOD_JOB_DATABASE_URL='localhost:5432/app' is not a postgres://"),
    ("database_url", "postgresql://u@h:port/app", "GOOD_JOB_DATABASE_URL=.* has an invalid port 'port'"),
]


@pytest.mark.parametrize(("name", "text", "message"), ENV_ERRORS)
def test_bad_env_values_name_variable_and_value(name: str, text: str, message: str) -> None:
    fails(message, environ={ENV_VARS[name]: text})


def test_bad_queue_string_is_a_queue_string_error_naming_the_source() -> None:
    with pytest.raises(QueueStringError, match=r"GOOD_JOB_QUEUES='mail:x' is not a valid queue string"):
        env(queues="mail:x")
    with pytest.raises(QueueStringError, match=r"--queues='a,,b'"):
        load_config(cli={"queues": "a,,b"}, environ={})


def test_database_url_falls_back_to_database_url() -> None:
    url = "postgresql://app@db/app"
    assert load_config(environ={"DATABASE_URL": url}).database_url == url
    both = {"DATABASE_URL": url, "GOOD_JOB_DATABASE_URL": "postgresql://jobs@db/jobs"}
    assert load_config(environ=both).database_url == "postgresql://jobs@db/jobs"
    fails(r"^DATABASE_URL='redis://h' is not a postgres", environ={"DATABASE_URL": "redis://h"})


def test_passwords_are_masked_in_messages_and_repr() -> None:
    error = fails("invalid port", environ={"DATABASE_URL": "postgresql://u:hunter2@h:x/db"})
    assert "hunter2" not in str(error) and "u:***@h:x" in str(error)
    error = fails("must be a str", code={"dashboard_password": 1234})
    assert "1234" not in str(error)
    config = load_config(code={"database_url": "postgresql://u:hunter2@h/db", "dashboard_password": "pw"})
    assert "hunter2" not in repr(config) and "'pw'" not in repr(config)
    assert config.describe_database() == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:@/db?host=/tmp/x", "postgresql://u:@/db?host=/tmp/x"),
        (
            "postgresql://u@h/db?password=secret&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("host=db password=secret user=u", "host=db password=*** user=u"),
        ("postgresql://u:secret@[::1/db", "postgresql://u:***@[::1/db"),
    ],
)
def test_mask_database_url(url: str, masked: str) -> None:
    assert mask_database_url(url) == masked


def test_describe_database() -> None:
    assert Config(embedded_dir="/x/gj").describe_database() == "the embedded Postgres in /x/gj/pgdata"
    assert "GOOD_JOB_DATABASE_URL" in Config(embedded=False).describe_database()


def test_code_values_keep_their_types() -> None:
    config = load_config(
        code={
            "max_threads": 3,
            "poll_interval": 2,
            "preserve_job_records": "on_unhandled_error",
            "probe_port": None,
        },
        environ={},
    )
    assert config.max_threads == 3 and config.poll_interval == 2.0 and isinstance(config.poll_interval, float)
    assert config.preserve_job_records == "on_unhandled_error"
    path_config = load_config(
        code={"embedded_dir": Path("/x/gj"), "on_thread_error": on_error}, environ={}
    )
    assert path_config.embedded_dir == "/x/gj" and path_config.on_thread_error is on_error
    off = load_config(code={"cleanup_interval_jobs": -1, "cleanup_interval_seconds": None}, environ={})
    assert off.cleanup_interval_jobs is None and off.cleanup_interval_seconds is None


CODE_ERRORS = [
    ({"max_threads": 0}, r"^max_threads=0 \(from goodjob.configure\) must be between 1 and 10000$"),
    ({"max_threads": "5"}, r"^max_threads='5' \(from goodjob.configure\) must be an int, not str$"),
    ({"max_threads": 2.0}, r"max_threads=2.0 \(from goodjob.configure\) must be an int, not float"),
    ({"poll_interval": True}, r"poll_interval=True \(from goodjob.configure\) must be a number, not bool"),
    ({"retry_on_unhandled_error": "false"}, r"retry_on_unhandled_error='false' .* must be a bool, not str"),
    ({"daemonize": 1}, r"daemonize=1 \(from goodjob.configure\) must be a bool, not int"),
    ({"on_thread_error": "pkg:func"}, r"on_thread_error='pkg:func' .* must be callable, not str"),
    ({"logger": "goodjob"}, r"logger='goodjob' .* must be a logging.Logger, not str"),
    ({"queues": None}, r"queues=None .* must be a str, not NoneType"),
    ({"shutdown_timeout": -3}, r"shutdown_timeout=-3 .* must be >= 0, or -1 to wait forever"),
    ({"preserve_job_records": "always"}, r"preserve_job_records='always' .* is not a valid value"),
    ({"execution_mode": "threads"}, r"execution_mode='threads' .* is not a valid execution mode"),
    ({"pidfile": ""}, r"pidfile='' .* must not be empty"),
    ({"database_url": "http://x"}, r"database_url='http://x' \(from goodjob.configure\) is not a postgres"),
]


@pytest.mark.parametrize(("code", "message"), CODE_ERRORS)
def test_bad_code_values(code: dict[str, object], message: str) -> None:
    fails(message, code=code, environ={})


def test_cli_values_are_coerced_from_strings_and_named_as_flags() -> None:
    config = load_config(cli={"max_threads": "8", "daemonize": True, "probe_port": 9000}, environ={})
    assert (config.max_threads, config.daemonize, config.probe_port) == (8, True, 9000)
    fails(r"^--max-threads=0 must be between 1 and 10000$", cli={"max_threads": 0}, environ={})
    fails(r"^--poll-interval='x' is not a valid number", cli={"poll_interval": "x"}, environ={})


def test_precedence_cli_over_code_over_env_over_default() -> None:
    environ = {"GOOD_JOB_MAX_THREADS": "4", "GOOD_JOB_QUEUES": "env", "GOOD_JOB_MAX_CACHE": "7"}
    code = {"max_threads": 3, "queues": "code"}
    config = load_config(cli={"max_threads": "2", "queues": None}, code=code, environ=environ)
    assert (config.max_threads, config.queues, config.max_cache, config.poll_interval) == (2, "code", 7, 1.0)


def test_queues_are_validated_against_the_effective_max_threads() -> None:
    assert load_config(code={"queues": "a;b:2"}, cli={"max_threads": "3"}, environ={}).queues == "a;b:2"


def test_good_job_env_production_disables_embedded_unless_told_otherwise() -> None:
    assert load_config(environ={"GOOD_JOB_ENV": "production"}).embedded is False
    assert load_config(environ={"GOOD_JOB_ENV": "development"}).embedded is True
    assert load_config(environ={"GOOD_JOB_ENV": "production", "GOOD_JOB_EMBEDDED": "true"}).embedded is True
    assert load_config(code={"embedded": True}, environ={"GOOD_JOB_ENV": "production"}).embedded is True


def test_unknown_keys_suggest_a_close_match() -> None:
    error = fails(
        r"unknown option 'max_thread' passed to goodjob.configure; did you mean 'max_threads'\?",
        code={"max_thread": 1},
    )
    assert "poll_interval" in str(error)
    fails(r"unknown option 'zzz' given on the command line\. Valid options: database_url", cli={"zzz": 1})


def test_config_validates_on_direct_construction() -> None:
    with pytest.raises(ConfigurationError, match=r"^max_threads=0 must be between 1 and 10000$"):
        Config(max_threads=0)
    with pytest.raises(ConfigurationError, match="probe_port=0"):
        dataclasses.replace(Config(), probe_port=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().max_threads = 2  # type: ignore[misc]
    assert Config.from_env({"GOOD_JOB_MAX_THREADS": "9"}).max_threads == 9


@pytest.mark.usefixtures("clean_environ")
def test_configure_merges_and_current_config_sees_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_config() == Config()
    assert configure(max_threads=3).max_threads == 3
    merged = configure(queues="a:1;b")
    assert (merged.max_threads, merged.queues) == (3, "a:1;b")
    assert current_config() is current_config()
    monkeypatch.setenv("GOOD_JOB_POLL_INTERVAL", "9")
    monkeypatch.setenv("GOOD_JOB_MAX_THREADS", "6")
    assert (current_config().poll_interval, current_config().max_threads) == (9.0, 3)
    with pytest.raises(ConfigurationError, match="max_cache=-1"):
        configure(max_cache=-1)
    assert current_config().max_cache == 10000  # the failed call stored nothing
    reset_configuration()
    assert current_config().max_threads == 6


@pytest.mark.usefixtures("clean_environ")
def test_current_config_reports_a_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOD_JOB_MAX_THREADS", "many")
    with pytest.raises(ConfigurationError, match="GOOD_JOB_MAX_THREADS='many'"):
        current_config()
    monkeypatch.setenv("GOOD_JOB_MAX_THREADS", "2")
    assert current_config().max_threads == 2
    assert config_module._code_options == {}


@pytest.mark.usefixtures("clean_environ")
def test_cli_flags_recorded_for_the_process_beat_configure() -> None:
    assert config_module.set_cli_options({"max_threads": "8", "queues": None}).max_threads == 8
    assert configure(max_threads=3, queues="a").max_threads == 8
    assert (current_config().max_threads, current_config().queues) == (8, "a")
    with pytest.raises(ConfigurationError, match="--max-threads='0'"):
        config_module.set_cli_options({"max_threads": "0"})
    assert current_config().max_threads == 8
    reset_configuration()
    assert current_config().max_threads == 5
