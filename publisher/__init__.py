"""publisher: Atom/RSS feeds and an email digest from a folder of Jekyll-style posts.

The library's public surface is `__all__`: the command functions of `app/`
(each takes a `Config` and `now` and returns a result), `load_config` and
`Config`, the errors they raise, and the model's main dataclasses. Anything
else is internal and may move.

Importing `publisher` imports nothing else: the nothing-changed shortcut
(`entry`, `incremental.shortcut`) starts here and must stay fast, so each
name is imported on first use (`__getattr__`). Nor does it import `typing`
or `__future__`, for the same reason.
"""

import sys

__version__ = "0.1.0"

# Where each public name lives, by module.
_WHERE = {
    "publisher.app.pipeline": ("publish", "build", "PublishResult", "FeedResult", "DigestResult"),
    "publisher.app.check": ("check", "CheckResult"),
    "publisher.app.digest": ("preview", "include", "send_test"),
    "publisher.app.send": ("send", "send_queue"),
    "publisher.app.bounces": ("bounces",),
    "publisher.app.feeds": ("feed_plan",),
    "publisher.app.site": ("load",),
    "publisher.app.subscribers": (
        "subscribers_add", "subscribers_list", "subscribers_import", "subscribers_export",
        "subscribers_remove", "unsubscribe",
    ),
    "publisher.app.loading": ("load_config",),
    "publisher.config.settings": ("Config",),
    "publisher.errors": (
        "ExitCode", "PublisherError", "ConfigError", "ContentError", "OutputError",
        "StateError", "TemplateError", "DeliveryError", "AuthenticationError",
        "SecretMissing", "LockBusy", "SubscriberError",
    ),
    "publisher.model": ("Post", "Problem", "Site", "Summary"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "__version__",
    # the commands
    "publish", "build", "check", "preview", "include", "send_test", "send", "send_queue",
    "bounces", "feed_plan", "load", "subscribers_add", "subscribers_list",
    "subscribers_import", "subscribers_export", "subscribers_remove", "unsubscribe",
    # their results
    "PublishResult", "FeedResult", "DigestResult", "CheckResult",
    # the configuration
    "load_config", "Config",
    # the errors
    "ExitCode", "PublisherError", "ConfigError", "ContentError", "OutputError",
    "StateError", "TemplateError", "DeliveryError", "AuthenticationError",
    "SecretMissing", "LockBusy", "SubscriberError",
    # the model
    "Post", "Problem", "Site", "Summary",
]


def __getattr__(name: str) -> object:
    """A public name, imported on first use (from the module `_WHERE` names)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'publisher' has no attribute {name!r}")
    __import__(module)
    value = getattr(sys.modules[module], name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
