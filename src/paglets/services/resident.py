"""Resident services: long-lived per-host providers, started lazily or with the host.

A resident service is a :class:`~paglets.services.provider.ServicePaglet` subclass
declared on the class (``RESIDENT_LIFECYCLE``, ``IDLE_TIMEOUT``) or in ``launch.toml``
(:mod:`paglets.services.launch`, which wins). :class:`ResidentServices` advertises each
one in the host's service registry at once, so it is discoverable before it runs:

- **eager**: the provider is created now and never idles out;
- **lazy**: no instance exists until the first call needs one; the registry then runs
  this module's activator once, under a lock, however many callers arrive together
  (:meth:`~paglets.runtime.serving.service_registry.ServiceRegistry.ensure`). The provider
  deactivates itself after ``idle_timeout`` seconds without calls or leases; its
  record stays and the next call activates it again.

A host with a persistence dir keeps a deactivated provider across restarts; the
activator adopts that paglet instead of creating a second one.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import INACTIVE
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, ServiceContractError
from paglets.core.runtime_values import ResidentLifecycle, enum_from_wire, require_enum
from paglets.runtime.host import Host
from paglets.runtime.serving.service_records import ServiceRecord
from paglets.services.launch import LaunchEntry, LaunchFileError
from paglets.services.provider import ServicePaglet, ServiceState

log = logging.getLogger(__name__)

RESIDENT_KEY = "resident"
"""The record key of a resident service (one per contract per host)."""


@dataclass(frozen=True)
class ResidentService:
    """One resident service as a host runs it.

    Attributes:
        provider: the ServicePaglet subclass.
        lifecycle: lazy or eager.
        idle_timeout: seconds idle before a lazy provider deactivates (0: never).
        label: the ``launch.toml`` table name, or the contract name.
    """

    provider: type[ServicePaglet[Any]]
    lifecycle: ResidentLifecycle = ResidentLifecycle.LAZY
    idle_timeout: float = 300.0
    label: str = ""

    @property
    def contract_name(self) -> str:
        """The name of the contract it provides."""
        return self.provider.contract().name

    @classmethod
    def from_class(
        cls,
        provider: type[ServicePaglet[Any]],
        lifecycle: ResidentLifecycle | None = None,
        idle_timeout: float | None = None,
        label: str = "",
    ) -> ResidentService:
        """The declaration of ``provider``, with the class's defaults for what is None.

        Raises:
            ServiceContractError: not a ServicePaglet with a CONTRACT, or a bad lifecycle.
        """
        if not (isinstance(provider, type) and issubclass(provider, ServicePaglet)):
            raise ServiceContractError(f"{provider!r} is not a ServicePaglet subclass")
        contract = provider.contract()
        try:
            chosen = lifecycle or provider.RESIDENT_LIFECYCLE
            mode = require_enum(chosen, ResidentLifecycle, "lifecycle")
        except TypeError as exc:
            raise ServiceContractError(f"{contract.name}: {exc}") from None
        idle = provider.IDLE_TIMEOUT if idle_timeout is None else idle_timeout
        return cls(provider, mode, float(idle), label or contract.name)

    @classmethod
    def from_entry(cls, entry: LaunchEntry) -> ResidentService:
        """The declaration a ``launch.toml`` entry makes.

        Raises:
            LaunchFileError: the class cannot be imported or is not a provider.
        """
        module_name, _, qualname = entry.class_path.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
            lifecycle = None
            if entry.lifecycle is not None:
                lifecycle = enum_from_wire(entry.lifecycle, ResidentLifecycle, "lifecycle")
            return cls.from_class(target, lifecycle, entry.idle_timeout, entry.label)
        except (ImportError, AttributeError, ValueError) as exc:
            raise LaunchFileError(
                f"[services.{entry.label}]: cannot load {entry.class_path}: {exc}"
            ) from None
        except ServiceContractError as exc:
            raise LaunchFileError(f"[services.{entry.label}]: {exc}") from None


def merge_declarations(
    builtin: list[ResidentService], entries: list[LaunchEntry]
) -> list[ResidentService]:
    """The services to run: ``builtin`` ones, changed or disabled by ``launch.toml``.

    An entry naming a built-in class replaces its declaration (``enabled = false``
    drops it); other entries add services.

    Raises:
        LaunchFileError: an entry's class cannot be loaded.
    """
    chosen: dict[str, ResidentService] = {class_path(s.provider): s for s in builtin}
    for entry in entries:
        if not entry.enabled:
            chosen.pop(entry.class_path, None)
            continue
        declared = ResidentService.from_entry(entry)
        chosen[class_path(declared.provider)] = declared
    return list(chosen.values())


class ResidentServices:
    """The resident services of one host.

    Args:
        host: the started host they run on.
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self._declared: dict[str, ResidentService] = {}
        self._lock = threading.Lock()

    def start(self, services: list[ResidentService]) -> list[ServiceRecord]:
        """Advertise every service; create the eager ones now.

        A service that fails to start eagerly is logged and stays lazy, so one broken
        provider never keeps a host from starting.
        """
        records = [self.declare(service) for service in services]
        for service in services:
            if service.lifecycle is ResidentLifecycle.EAGER:
                try:
                    self.activate(service.contract_name)
                except PagletError as exc:
                    log.error("resident %s did not start: %s", service.label, exc)
        return [self._record(r.contract) or r for r in records]

    def declare(self, service: ResidentService) -> ServiceRecord:
        """Advertise ``service`` here without starting it."""
        with self._lock:
            self._declared[service.contract_name] = service
        return self._host.service_registry.advertise(
            service.provider.contract(),
            key=RESIDENT_KEY,
            lifecycle=service.lifecycle.value,
            metadata={"label": service.label, "class": class_path(service.provider)},
            activator=lambda: self._create(service),
        )

    def activate(self, contract_name: str) -> ServiceRecord:
        """Make sure the provider of ``contract_name`` exists (once); return its record.

        Raises:
            ServiceNotFoundError: no such resident service here.
        """
        return self._host.service_registry.ensure(contract_name, RESIDENT_KEY)

    def services(self) -> list[ResidentService]:
        """The declared services."""
        with self._lock:
            return list(self._declared.values())

    def _record(self, contract_name: str) -> ServiceRecord | None:
        found = self._host.service_registry.records(contract_name)
        return next((r for r in found if r.key == RESIDENT_KEY), None)

    def _create(self, service: ResidentService) -> str:
        """The activator: adopt a stored provider of this class, else create one."""
        wanted = class_path(service.provider)
        for proxy in self._host.get_proxies(INACTIVE):
            try:
                if proxy.info().get("class") == wanted:
                    return proxy.agent_id
            except PagletError:
                continue
        idle = service.idle_timeout if service.lifecycle is ResidentLifecycle.LAZY else 0.0
        state = service.provider.State()
        if isinstance(state, ServiceState):
            state.idle_timeout = idle
        proxy = self._host.create(service.provider, state)
        log.info("resident %s started as %s", service.label, proxy.agent_id)
        return proxy.agent_id
