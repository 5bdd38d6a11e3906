"""The public surface of `publisher` (as httpx's tests/test_exported_members.py):
`__all__` is exactly the list below, and each name in it imports from
`publisher`. A change here is a change to the library's API: on purpose."""

from __future__ import annotations

import subprocess
import sys

import publisher

EXPORTED = [
    "__version__",
    "publish", "build", "check", "preview", "include", "send_test", "send", "send_queue",
    "bounces", "feed_plan", "load", "subscribers_add", "subscribers_list",
    "subscribers_import", "subscribers_export", "subscribers_remove", "unsubscribe",
    "PublishResult", "FeedResult", "DigestResult", "CheckResult",
    "load_config", "Config",
    "ExitCode", "PublisherError", "ConfigError", "ContentError", "OutputError",
    "StateError", "TemplateError", "DeliveryError", "AuthenticationError",
    "SecretMissing", "LockBusy", "SubscriberError",
    "Post", "Problem", "Site", "Summary",
]


def test_all_is_the_stated_list() -> None:
    assert publisher.__all__ == EXPORTED


def test_every_name_imports_from_publisher() -> None:
    for name in publisher.__all__:
        assert getattr(publisher, name) is not None, name
        assert name in dir(publisher)
    namespace: dict[str, object] = {}
    exec("from publisher import *", namespace)  # noqa: S102 - the star import users write
    assert set(EXPORTED) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        publisher.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("publisher.no_such_thing did not raise")


def test_the_names_are_the_app_functions_and_their_types() -> None:
    from publisher.app.pipeline import publish
    from publisher.config.settings import Config
    from publisher.errors import PublisherError

    assert publisher.publish is publish
    assert publisher.Config is Config
    assert issubclass(publisher.ConfigError, PublisherError)


def test_import_publisher_stays_cheap() -> None:
    """The nothing-changed shortcut imports `publisher` first: no click, no
    templating, no YAML, no SQLite, not even `typing`, until a name is used."""
    probe = (
        "import sys\n"
        "import publisher\n"
        "heavy = sorted(m for m in ('click', 'jinja2', 'yaml', 'sqlite3', 'typing',"
        " 'publisher.app', 'publisher.config.settings') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "publisher.ExitCode\n"
        "print('AFTER', 'publisher.errors' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines() == ["HEAVY []", "AFTER True"]
