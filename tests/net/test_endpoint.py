"""Tests for paglets.net.endpoint: the spellings of a host address."""

from __future__ import annotations

import pytest

from paglets.net.endpoint import looks_like_address, normalize_address, split_address


@pytest.mark.parametrize(
    "spelling",
    [
        "tcp://127.0.0.1:8765",
        "127.0.0.1:8765",
        "http://127.0.0.1:8765",
        "http://127.0.0.1:8765/",
        "https://127.0.0.1:8765",
        "  tcp://127.0.0.1:8765  ",
    ],
)
def test_spellings_of_one_endpoint(spelling: str) -> None:
    assert normalize_address(spelling) == "tcp://127.0.0.1:8765"
    assert looks_like_address(spelling)
    assert split_address(spelling) == ("127.0.0.1", 8765)


def test_host_names_and_ipv6() -> None:
    assert normalize_address("localhost:80") == "tcp://localhost:80"
    assert normalize_address("my-box.lan:1") == "tcp://my-box.lan:1"
    assert normalize_address("[::1]:9000") == "tcp://[::1]:9000"
    assert split_address("tcp://[::1]:9000") == ("::1", 9000)


@pytest.mark.parametrize(
    "text", ["alpha", "", "tcp://", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "a b:1", ":80"]
)
def test_not_an_address(text: str) -> None:
    assert not looks_like_address(text)
    with pytest.raises(ValueError):
        normalize_address(text)
