"""File roots: paglets touch a host's files only under its roots, paths resolved first.

A grab (the file grabber's paglet pulling a file from another host) outside the roots
is refused, also when the path walks out with ``..`` or through a symlink that lives
inside a root; so are probes, ``register_file`` and saving to a destination outside.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import HostFactory, join_mesh
from helpers import TIMEOUT
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import ForbiddenError, PagletError
from paglets.core.messages import Message
from paglets.patterns.file_mobility import (
    FileMobilityMixin,
    SingleFileTransferPaglet,
    SingleFileTransferState,
    is_refusal,
)
from paglets.runtime.files.roots import check_path, default_roots, resolve_roots
from paglets.runtime.host import Host

SECRET = "roots-secret"


class Registrar(FileMobilityMixin, Paglet[PagletState]):
    """Registers the file it is told to, or probes a path on a host."""

    def handle_message(self, message: Message) -> Any:
        if message.kind == "register":
            return str(self.register_file(str(message.arg), "f").path)
        if message.kind == "roots":
            return [str(root) for root in self.context.files_roots]
        if message.kind == "probe":
            return self.probe(str(message.arg), message.args.get("host"))
        return self.not_handled()


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.txt").write_text("fine to read")
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (allowed / "link.txt").symlink_to(secret)
    (allowed / "dirlink").symlink_to(tmp_path)
    return {"allowed": allowed, "secret": secret, "root": tmp_path}


@pytest.fixture
def hosts(make_host: HostFactory, layout: dict[str, Path]) -> tuple[Host, Host]:
    roots = [layout["allowed"]]
    alpha = make_host("alpha", api_key=SECRET, files_roots=roots)
    beta = make_host("beta", api_key=SECRET, files_roots=roots, peers=[alpha.address])
    join_mesh(alpha, beta)
    return alpha, beta


def _pull(entry: Host, remote: Host, source: str, dest: str) -> dict[str, Any]:
    """What ``paglets grab pull`` does: plan, go to the remote, carry the file back."""
    state = SingleFileTransferState(
        source=source, dest=dest, source_host=remote.address, dest_host=entry.address
    )
    proxy = entry.create(SingleFileTransferPaglet, state)
    plan: dict[str, Any] = proxy.send("plan", timeout=TIMEOUT)
    if plan["problems"]:
        return plan
    proxy.send(Message("go", arg=remote.address), timeout=TIMEOUT)
    proxy.send("carry", timeout=TIMEOUT)
    result: dict[str, Any] = proxy.send("result", timeout=TIMEOUT)
    return result


def test_check_path_resolves_dots_and_symlinks_before_deciding(
    layout: dict[str, Path],
) -> None:
    roots = resolve_roots([layout["allowed"]])
    inside = check_path(layout["allowed"] / "ok.txt", roots)
    assert inside == (layout["allowed"] / "ok.txt").resolve()
    assert check_path(layout["allowed"] / "new" / "file.bin", roots).parent.name == "new"
    for outside in (
        layout["secret"],
        layout["allowed"] / ".." / "secret.txt",
        layout["allowed"] / "link.txt",
        layout["allowed"] / "dirlink" / "secret.txt",
        Path("/etc/passwd"),
    ):
        with pytest.raises(ForbiddenError, match="outside this host's files roots"):
            check_path(outside, roots)


def test_a_grab_outside_the_roots_is_refused_also_through_dots_and_links(
    hosts: tuple[Host, Host], layout: dict[str, Path]
) -> None:
    alpha, beta = hosts
    allowed = layout["allowed"]
    got = _pull(alpha, beta, str(allowed / "ok.txt"), str(allowed / "copy.txt"))
    assert got["error"] == "" and (allowed / "copy.txt").read_text() == "fine to read"
    for source in (
        str(layout["secret"]),
        str(allowed / ".." / "secret.txt"),
        str(allowed / "link.txt"),
        str(allowed / "dirlink" / "secret.txt"),
    ):
        plan = _pull(alpha, beta, source, str(allowed / "stolen.txt"))
        assert plan["problems"], source
        assert "source refused: " in plan["problems"][0]
        assert "outside this host's files roots" in plan["problems"][0]
        assert plan["source"]["exists"] is False  # nothing is said of a refused path
    assert not (allowed / "stolen.txt").exists()
    # the destination is checked too
    plan = _pull(alpha, beta, str(allowed / "ok.txt"), str(layout["root"] / "out.txt"))
    assert "destination refused" in plan["problems"][0]
    assert not (layout["root"] / "out.txt").exists()


def test_a_remote_probe_and_register_file_outside_are_refused_by_name(
    hosts: tuple[Host, Host], layout: dict[str, Path]
) -> None:
    alpha, beta = hosts
    registrar = alpha.create(Registrar)
    refusals = [
        Message("probe", {"host": beta.address}, str(layout["secret"])),
        Message("register", arg=str(layout["allowed"] / "link.txt")),
        Message("register", arg=str(layout["allowed"] / ".." / "secret.txt")),
    ]
    for message in refusals:
        with pytest.raises(PagletError) as caught:
            registrar.send(message, timeout=TIMEOUT)
        assert is_refusal(caught.value), caught.value  # ForbiddenError, named
    inside = registrar.send(Message("register", arg=str(layout["allowed"] / "ok.txt")))
    assert Path(inside) == (layout["allowed"] / "ok.txt").resolve()
    facts = registrar.send(Message("probe", {"host": beta.address}, str(layout["allowed"])))
    assert facts["exists"] is True
    here = registrar.send(Message("probe", arg=str(layout["allowed"] / "ok.txt")))
    assert here["is_file"] is True


def test_the_default_roots_are_home_and_temp_and_slash_lifts_them_with_a_warning(
    make_host: HostFactory, caplog: pytest.LogCaptureFixture
) -> None:
    home, temp = Path.home().resolve(), Path(tempfile.gettempdir()).resolve()
    assert set(default_roots()) == {home, temp}
    plain = make_host("plain").create(Registrar)
    assert set(plain.send("roots", timeout=TIMEOUT)) == {str(home), str(temp)}
    assert plain.send(Message("probe", arg=str(temp)), timeout=TIMEOUT)["exists"] is True
    with pytest.raises(PagletError, match="ForbiddenError"):
        plain.send(Message("probe", arg="/etc/passwd"), timeout=TIMEOUT)
    with caplog.at_level(logging.WARNING, logger="paglets"):
        free = make_host("free", files_roots=["/"])
    assert any("lifts the file limit" in record.getMessage() for record in caplog.records)
    assert free.create(Registrar).send(Message("probe", arg="/etc"))["exists"] is True
    with pytest.raises(PagletError, match="absolute"):
        make_host("bad", files_roots=["relative/dir"], start=False)
