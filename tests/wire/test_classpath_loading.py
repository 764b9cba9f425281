"""A class path resolves while its module is still being imported by another thread."""

from __future__ import annotations

import sys
import textwrap
import threading
from dataclasses import is_dataclass
from pathlib import Path

import pytest

from helpers import TIMEOUT, wait_for
from paglets.wire.classpath import ClassPolicy, resolve_value_class


def test_a_class_of_a_module_another_thread_is_importing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slow_state_module.py").write_text(
        textwrap.dedent(
            """
            import threading
            from dataclasses import dataclass

            started = threading.Event()
            release = threading.Event()
            started.set()
            release.wait(10)

            @dataclass
            class SlowState:
                value: int = 0
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importer = threading.Thread(target=__import__, args=("slow_state_module",), daemon=True)
    importer.start()
    try:
        module = wait_for(lambda: sys.modules.get("slow_state_module"), TIMEOUT)
        wait_for(lambda: getattr(module, "started", None) is not None and module.started.is_set())
        found: list[type] = []
        resolver = threading.Thread(
            target=lambda: found.append(
                resolve_value_class(
                    "slow_state_module:SlowState", ClassPolicy(("slow_state_module",))
                )
            ),
            daemon=True,
        )
        resolver.start()
        resolver.join(0.2)
        assert resolver.is_alive(), "the lookup did not wait for the module's body"
        module.release.set()
        resolver.join(TIMEOUT)
        assert len(found) == 1 and found[0].__name__ == "SlowState" and is_dataclass(found[0])
    finally:
        module = sys.modules.get("slow_state_module")
        if module is not None and hasattr(module, "release"):
            module.release.set()
        importer.join(TIMEOUT)
        sys.modules.pop("slow_state_module", None)
