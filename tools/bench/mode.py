"""Plain or secured sockets for a run, decided once by the driver and inherited by children.

By default a run compares like with like: our hosts use plain sockets (``insecure``,
on loopback) and so does the raw limit. ``run.py --secure`` gives every host, client
and CLI host of the run one mesh secret through ``PAGLETS_API_KEY``, and the raw limit
uses CURVE too. Either way ``PAGLETS_HOME`` points into a temporary directory, so a run
never reads or creates the user's own mesh secret.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from paglets.runtime.config import HostConfig

SECURE_VARIABLE = "PAGLETS_BENCH_SECURE"
SECRET_VARIABLE = "PAGLETS_API_KEY"
HOME_VARIABLE = "PAGLETS_HOME"


def configure(secure: bool, home: str) -> None:
    """Set the environment of this process (and so of every child it starts)."""
    os.environ[HOME_VARIABLE] = home
    os.environ[SECURE_VARIABLE] = "1" if secure else "0"
    if secure:
        os.environ[SECRET_VARIABLE] = secrets.token_urlsafe(32)
    else:
        os.environ.pop(SECRET_VARIABLE, None)


def is_secure() -> bool:
    """Whether this run uses secured sockets."""
    return os.environ.get(SECURE_VARIABLE) == "1"


def _has_insecure_option() -> bool:
    return "insecure" in HostConfig.__dataclass_fields__


def host_options() -> dict[str, Any]:
    """Extra keyword arguments for ``Host(...)`` and ``HostClient(...)`` in this run."""
    return {"insecure": True} if not is_secure() and _has_insecure_option() else {}


def cli_flags() -> list[str]:
    """Extra command-line flags for ``paglets host`` in this run."""
    return ["--insecure"] if not is_secure() and _has_insecure_option() else []


def describe() -> str:
    """One line for the table and the JSON: which sockets the run used."""
    if is_secure():
        return "secured: paglets with a mesh secret (CURVE), raw limit with CURVE"
    if _has_insecure_option():
        return "plain sockets (insecure=True on loopback) for paglets and the raw limit"
    return "plain sockets (this paglets has no mesh security) for paglets and the raw limit"
