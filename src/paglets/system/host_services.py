"""Starting a host's resident services: the system ones and those ``launch.toml`` adds.

Wiring, and why it is here: :class:`~paglets.runtime.host.Host` lives in the runtime
layer and must not import ``paglets.services`` or ``paglets.system`` (imports go down
the layers), so a host does not start services by itself. The code that *owns* a host
process does, right after ``start_background()``: ``paglets host`` (the CLI), the
embedded entry host of ``paglets sys``/``paglets search``, the demos, and any program
that wants them::

    host = Host(name="alpha").start_background()
    start_host_services(host)

One call, one place: the choice of services (built-ins, then ``launch.toml``) is made
here and nowhere else. A library user who starts a bare ``Host`` gets a bare host, on
purpose; the ``sys`` collector still answers on such a host by reading the machine
directly.

Importing this module also imports the system paglet classes (the services and the
``paglets sys`` survey), so a host process that started its services has them at hand
when a survey clones itself there (``paglets.system`` is an allowed prefix anyway).
"""

from __future__ import annotations

import logging
from pathlib import Path

from paglets.core.errors import PagletError
from paglets.runtime.host import Host
from paglets.services.launch import ensure_launch_file, launch_file_path, read_launch_file
from paglets.services.resident import ResidentService, ResidentServices, merge_declarations
from paglets.system import survey
from paglets.system.mesh_info import MeshInfoService
from paglets.system.server_info import ServerInfoService
from paglets.system.user_info import UserInfoService

log = logging.getLogger(__name__)

SYSTEM_SERVICES = (ServerInfoService, UserInfoService, MeshInfoService)
"""The system services every host runs unless ``launch.toml`` disables them."""
SURVEY_PAGLET = survey.SurveyPaglet
"""The ``paglets sys`` collector, which every serviced host must resolve."""


def system_declarations() -> list[ResidentService]:
    """The system services as their classes declare them."""
    return [ResidentService.from_class(cls) for cls in SYSTEM_SERVICES]


def start_host_services(
    host: Host, launch_file: Path | None = None, *, read_launch: bool = True
) -> ResidentServices:
    """Advertise the system services and those of ``launch.toml`` on ``host``.

    Args:
        host: a started host.
        launch_file: the file to read (default ``$PAGLETS_HOME/launch.toml``, created
            from the bundled defaults on first start).
        read_launch: False runs the system services as declared, reading no file.

    Returns:
        The host's resident services.

    Raises:
        LaunchFileError: the file is malformed or names a class that does not load.
    """
    declarations = system_declarations()
    if read_launch:
        path = launch_file if launch_file is not None else launch_file_path()
        try:
            ensure_launch_file(path)
        except PagletError as exc:  # a read-only home: the built-ins still run
            log.warning("%s", exc)
        declarations = merge_declarations(declarations, read_launch_file(path))
    residents = ResidentServices(host)
    residents.start(declarations)
    return residents
