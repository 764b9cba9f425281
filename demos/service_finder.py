"""Service finder: look a contract up on this host and on the mesh, call it, break it.

Three hosts start in this process on 127.0.0.1 (OS-chosen ports, no discovery), each
with its system services. Only gamma also runs a ``demo.translator`` resident service,
declared lazy: it is advertised at once but no paglet exists until the first call. A
``FinderPaglet`` on alpha looks the translator up (not on alpha; found on the mesh),
calls it (which starts it on gamma, once), asks every host's server-info service for
its summary, and shows the errors a caller gets for a wrong request, an unknown
operation and a contract nobody provides.

Run it with ``uv run python demos/service_finder.py``.
"""

from __future__ import annotations

import faulthandler
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import ServiceContractError, ServiceNotFoundError
from paglets.core.messages import Message
from paglets.core.runtime_values import ResidentLifecycle
from paglets.runtime.host import Host
from paglets.services.contracts import (
    EmptyPayload,
    ServiceContract,
    ServiceOperation,
    ServiceScope,
)
from paglets.services.provider import ServicePaglet, ServiceState
from paglets.services.resident import ResidentService, ResidentServices
from paglets.system.host_services import start_host_services
from paglets.system.server_info import SERVER_INFO


@dataclass
class Phrase:
    text: str = ""


@dataclass
class Translation:
    text: str = ""
    translator: str = ""


TRANSLATOR = ServiceContract(
    name="demo.translator",
    operations=(ServiceOperation("to_pig_latin", Phrase, Translation),),
)
NOBODY = ServiceContract("demo.nobody", (ServiceOperation("anything"),))


class TranslatorService(ServicePaglet[ServiceState]):
    CONTRACT = TRANSLATOR
    RESIDENT_LIFECYCLE = ResidentLifecycle.LAZY
    IDLE_TIMEOUT = 60.0

    def to_pig_latin(self, request: Phrase) -> Translation:
        words = [w[1:] + w[0] + "ay" if w[:1].isalpha() else w for w in request.text.split()]
        return Translation(" ".join(words), f"{self.agent_id[:8]} on {self.context.name}")


class FinderPaglet(Paglet[PagletState]):
    def handle_message(self, message: Message) -> Any:
        if message.kind != "find":
            return self.not_handled()
        context = self.context
        lines = []
        local = context.lookup_contract(TRANSLATOR)
        lines.append(f"translator on {context.name}? {local is not None}")
        handle = context.require_contract(TRANSLATOR, ServiceScope.MESH)
        lines.append(
            f"found on the mesh: {TRANSLATOR.name} on {handle.host_name} "
            f"({handle.record.lifecycle}, started: {bool(handle.record.agent_id)})"
        )
        reply = handle.call("to_pig_latin", Phrase("hello mobile objects"))
        lines.append(
            f"to_pig_latin('hello mobile objects') -> {reply.text!r} by {reply.translator}"
        )
        for info in context.lookup_contracts(SERVER_INFO, ServiceScope.MESH):
            summary = info.call("summary")
            lines.append(f"server-info of {summary.host}: {summary.cpu_logical} cpus")
        try:
            handle.call("to_pig_latin", EmptyPayload())
        except ServiceContractError as exc:
            lines.append(f"wrong request: ServiceContractError: {exc.remote_message}")
        try:
            handle.call("to_klingon", Phrase("hi"))
        except ServiceContractError as exc:
            lines.append(f"unknown operation: ServiceContractError: {exc.remote_message}")
        try:
            context.require_contract(NOBODY, ServiceScope.MESH, 2.0)
        except ServiceNotFoundError as exc:
            lines.append(f"nobody provides it: ServiceNotFoundError: {exc.remote_message}")
        return lines


def main() -> None:
    faulthandler.dump_traceback_later(45, exit=True)
    with ExitStack() as stack:
        alpha = stack.enter_context(Host(name="alpha", port=0))
        beta = stack.enter_context(Host(name="beta", port=0, peers=[alpha.address]))
        gamma = stack.enter_context(Host(name="gamma", port=0, peers=[alpha.address]))
        for host in (alpha, beta, gamma):
            for other in ("alpha", "beta", "gamma"):
                if other != host.name:
                    host.wait_for_host(other, timeout=5)
            start_host_services(host, read_launch=False)
        ResidentServices(gamma).start([ResidentService.from_class(TranslatorService)])
        print("hosts up: alpha, beta, gamma; gamma also runs demo.translator (lazy)")
        finder = alpha.create(FinderPaglet)
        for line in finder.send(Message("find"), timeout=30):
            print(line)
        translators = [
            p
            for p in gamma.get_proxies()
            if p.info().get("class", "").endswith("TranslatorService")
        ]
        print(f"translator instances on gamma: {len(translators)}")
    print("hosts stopped")


if __name__ == "__main__":
    main()
