"""``launch.toml``: the resident services a host starts, as the operator declares them.

The file lives in the paglets config dir (``$PAGLETS_HOME``, default ``~/.paglets``).
On first start the bundled defaults (``launch_defaults.toml`` beside this module,
listing the system services) are copied there, so an operator edits a real file
rather than guessing keys. Format, one table per service::

    [services.server-info]
    class = "paglets.system.server_info:ServerInfoService"
    lifecycle = "lazy"        # or "eager"
    idle_timeout = 300        # seconds; lazy services only
    enabled = true

A key left out keeps what the class declares (``RESIDENT_LIFECYCLE``,
``IDLE_TIMEOUT``). The file is the operator's own configuration, so the classes it
names are imported as given, like a ``--allow-module`` prefix.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from paglets.core.errors import PagletError
from paglets.net.mesh_secret import config_dir

LAUNCH_FILE_NAME = "launch.toml"
_KEYS = {"class", "lifecycle", "idle_timeout", "enabled"}
LIFECYCLES = ("lazy", "eager")


class LaunchFileError(PagletError):
    """``launch.toml`` cannot be read, or declares a service wrongly (names the entry)."""


@dataclass(frozen=True)
class LaunchEntry:
    """One service as ``launch.toml`` declares it.

    Attributes:
        label: the table name (``server-info``).
        class_path: ``module:QualName`` of the provider class.
        lifecycle: ``lazy``, ``eager`` or None (the class decides).
        idle_timeout: seconds, or None (the class decides).
        enabled: False leaves the service out.
    """

    label: str
    class_path: str
    lifecycle: str | None = None
    idle_timeout: float | None = None
    enabled: bool = True


def launch_file_path(home: Path | None = None) -> Path:
    """Where ``launch.toml`` is: in ``home``, else ``$PAGLETS_HOME`` or ``~/.paglets``."""
    return (home if home is not None else config_dir()) / LAUNCH_FILE_NAME


def bundled_defaults() -> str:
    """The text of the bundled default ``launch.toml``."""
    return resources.files("paglets.services").joinpath("launch_defaults.toml").read_text()


def ensure_launch_file(path: Path | None = None) -> Path:
    """Copy the bundled defaults to ``path`` (default :func:`launch_file_path`) if absent.

    Raises:
        LaunchFileError: the file cannot be created.
    """
    target = path if path is not None else launch_file_path()
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with resources.as_file(
            resources.files("paglets.services").joinpath("launch_defaults.toml")
        ) as source:
            shutil.copyfile(source, target)
    except OSError as exc:
        raise LaunchFileError(f"cannot create {target}: {exc}") from None
    return target


def read_launch_file(path: Path) -> list[LaunchEntry]:
    """The entries of a ``launch.toml`` (a missing file declares nothing).

    Raises:
        LaunchFileError: not TOML, or an entry with an unknown key or a bad value.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LaunchFileError(f"cannot read {path}: {exc}") from None
    return parse_launch_text(text, str(path))


def parse_launch_text(text: str, origin: str = LAUNCH_FILE_NAME) -> list[LaunchEntry]:
    """Parse ``launch.toml`` text; ``origin`` names it in errors.

    Raises:
        LaunchFileError: as :func:`read_launch_file`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LaunchFileError(f"{origin} is not valid TOML: {exc}") from None
    unknown = set(data) - {"services"}
    if unknown:
        raise LaunchFileError(f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise LaunchFileError(f"{origin}: [services] must be a table of tables")
    return [_entry(origin, label, table) for label, table in services.items()]


def _entry(origin: str, label: str, table: Any) -> LaunchEntry:
    where = f"{origin} [services.{label}]"
    if not isinstance(table, dict):
        raise LaunchFileError(f"{where} must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise LaunchFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    class_path = table.get("class")
    if not isinstance(class_path, str) or ":" not in class_path:
        raise LaunchFileError(f"{where}: class must be 'module:ClassName'")
    lifecycle = table.get("lifecycle")
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        raise LaunchFileError(f"{where}: lifecycle must be 'lazy' or 'eager', not {lifecycle!r}")
    idle = table.get("idle_timeout")
    if idle is not None and (
        isinstance(idle, bool) or not isinstance(idle, int | float) or idle < 0
    ):
        raise LaunchFileError(f"{where}: idle_timeout must be a number of seconds >= 0")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise LaunchFileError(f"{where}: enabled must be true or false")
    return LaunchEntry(
        label=label,
        class_path=class_path,
        lifecycle=lifecycle,
        idle_timeout=None if idle is None else float(idle),
        enabled=enabled,
    )
