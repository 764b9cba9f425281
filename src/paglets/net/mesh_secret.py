"""Where a host or client gets its mesh secret.

In order: an explicit value; the environment variable named by ``--api-key-env``
(an error if unset or empty); ``PAGLETS_API_KEY``; else the secret kept in the config
dir (``$PAGLETS_HOME`` or ``~/.paglets``), ``mesh.key``, created with owner-only
permissions on first use. ``insecure`` skips all of this and means plain sockets.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from paglets.net.security import SECRET_VARIABLE

HOME_VARIABLE = "PAGLETS_HOME"
KEY_FILE = "mesh.key"


@dataclass(frozen=True, repr=False)
class MeshSecret:
    """A resolved secret and where it came from (never printed by ``repr``)."""

    value: str
    source: str
    created: bool = False

    def __repr__(self) -> str:
        return f"<MeshSecret from {self.source}>"


def config_dir() -> Path:
    """The paglets config dir of this user."""
    override = os.environ.get(HOME_VARIABLE)
    return Path(override) if override else Path.home() / ".paglets"


def resolve_secret(
    api_key: str | None = None,
    api_key_env: str | None = None,
    *,
    create: bool = True,
) -> MeshSecret | None:
    """Find the mesh secret (see the module docstring).

    Args:
        api_key: an explicit secret.
        api_key_env: the name of an environment variable that must hold the secret.
        create: create the config-dir secret if there is none (hosts do; clients not).

    Returns:
        The secret, or None when no secret exists and ``create`` is False.

    Raises:
        ValueError: ``api_key_env`` names a variable that is unset or empty, or the
            key file is unreadable or empty.
    """
    if api_key:
        return MeshSecret(api_key, "the api_key argument")
    if api_key_env:
        value = os.environ.get(api_key_env, "")
        if not value:
            raise ValueError(
                f"--api-key-env names {api_key_env}, but that variable is unset or empty"
            )
        return MeshSecret(value, f"${api_key_env}")
    value = os.environ.get(SECRET_VARIABLE, "")
    if value:
        return MeshSecret(value, f"${SECRET_VARIABLE}")
    path = config_dir() / KEY_FILE
    if path.exists():
        return MeshSecret(_read(path), str(path))
    if not create:
        return None
    return _create(path)


def _read(path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the mesh secret in {path}: {exc}") from None
    if not value:
        raise ValueError(f"the mesh secret file {path} is empty")
    return value


def _create(path: Path) -> MeshSecret:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return MeshSecret(_read(path), str(path))  # another host created it just now
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return MeshSecret(value, str(path), created=True)


def join_line(secret: MeshSecret, name: str = "NAME") -> str:
    """The one line another machine runs to join this mesh."""
    return f"{SECRET_VARIABLE}={secret.value} paglets host --name {name}"
