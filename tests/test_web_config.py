"""[web] in publisher.toml: defaults, checks, and the unsubscribe_url it implies."""

from __future__ import annotations

import pytest

from publisher.config import settings as config_mod
from publisher.errors import ConfigError

from .conftest import SiteDir


def test_defaults(site: SiteDir) -> None:
    web = site.config().web
    assert (web.listen, web.base_url, web.trusted_proxies) == ("127.0.0.1:8080", "", ())
    assert (web.confirm_hours, web.rate_per_ip, web.rate_per_address) == (48, 20, 3)
    assert (web.header_timeout, web.body_timeout, web.max_connections) == (10.0, 30.0, 500)
    assert site.config().delivery.unsubscribe_url == ""


def test_base_url_gives_the_unsubscribe_url(site: SiteDir) -> None:
    site.write_config('[web]\nbase_url = "https://news.example.org/list/"\n'
                      'trusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    config = site.config()
    assert config.delivery.unsubscribe_url == "https://news.example.org/list/unsubscribe"
    assert config.web.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    site.write_config('[delivery]\nunsubscribe_url = "https://x.example/u"\n'
                      '[web]\nbase_url = "https://news.example.org/list"\n')
    assert site.config().delivery.unsubscribe_url == "https://x.example/u"


def test_bad_values_are_all_reported(site: SiteDir) -> None:
    site.write_config(
        "[web]\n"
        'listen = "localhost"\n'
        'base_url = "news.example.org"\n'
        'trusted_proxies = ["10.0.0.0/33", "proxy.local"]\n'
        "confirm_hours = 0\n"
        "rate_per_ip = -1\n"
        "rate_per_address = -2\n"
        "header_timeout = 0\n"
        "body_timeout = -1.5\n"
        "max_connections = 0\n"
    )
    with pytest.raises(ConfigError) as info:
        config_mod.load(site.root / "publisher.toml")
    lines = info.value.message.splitlines()
    assert any("[web] listen: expected \"HOST:PORT\"" in line for line in lines)
    assert any("[web] base_url: must be an absolute http(s) URL" in line for line in lines)
    assert sum("[web] trusted_proxies:" in line for line in lines) == 2
    assert any("[web] confirm_hours: must be at least 1" in line for line in lines)
    assert any("[web] rate_per_ip: must be 0" in line for line in lines)
    assert any("[web] rate_per_address: must be 0" in line for line in lines)
    assert any("[web] header_timeout: must be more than 0 seconds, got 0" in line
               for line in lines)
    assert any("[web] body_timeout: must be more than 0 seconds, got -1.5" in line
               for line in lines)
    assert any("[web] max_connections: must be at least 1, got 0" in line for line in lines)
    site.write_config('[web]\nheader_timeout = "10s"\nbody_timeout = 7200\n'
                      "max_connections = 2.5\n")
    with pytest.raises(ConfigError) as info:
        config_mod.load(site.root / "publisher.toml")
    lines = info.value.message.splitlines()
    assert any("[web] header_timeout: expected a number" in line for line in lines)
    assert any("[web] body_timeout: at most 3,600" in line for line in lines)
    assert any("[web] max_connections: expected an integer" in line for line in lines)
    site.write_config('[web]\ntrusted_proxies = "127.0.0.1"\n')
    with pytest.raises(ConfigError, match="expected an array of strings"):
        config_mod.load(site.root / "publisher.toml")
    site.write_config('[web]\nbase_url = "https://x.example/list?a=1"\n')
    with pytest.raises(ConfigError, match="query"):
        config_mod.load(site.root / "publisher.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:65535", ("localhost", 65535)),
        ("127.0.0.1:0", None),
        ("127.0.0.1:70000", None),
        (":8080", None),
        ("127.0.0.1", None),
        ("a b:80", None),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int] | None) -> None:
    assert config_mod.parse_listen(text) == expected
