"""``ipc://`` addresses: accepted as written, checked, and never taken for a TCP host."""

from __future__ import annotations

import pytest

from paglets.net.endpoint import is_ipc, looks_like_address, normalize_address, split_address


def test_an_ipc_address_stays_as_written() -> None:
    assert normalize_address("ipc:///tmp/pgl-x/p") == "ipc:///tmp/pgl-x/p"
    assert is_ipc("ipc:///tmp/pgl-x/p") and looks_like_address("ipc:///tmp/pgl-x/p")
    assert not is_ipc("tcp://127.0.0.1:5000")


@pytest.mark.parametrize("bad", ["ipc://", "ipc://" + "x" * 200])
def test_a_bad_ipc_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ipc"):
        normalize_address(bad)


def test_an_ipc_address_has_no_host_and_port() -> None:
    with pytest.raises(ValueError, match="no host and port"):
        split_address("ipc:///tmp/pgl-x/p")
