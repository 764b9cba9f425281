"""The package's shape: imports go down the layers, and the public import paths work."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "paglets"

# Lowest first. A module may import from its own layer and any layer below it.
LAYERS = [
    {"core", "artifacts", "persistence"},  # persistence: data classes and a quota dir, stdlib only
    {"wire", "serialization"},
    {"disk"},
    {"net"},
    {"remote"},
    {"runtime"},
    {"services"},
    {"system", "patterns"},
    {"cli", "examples"},
]


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "paglets" or len(parts) < 2:
        return None
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    return None


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def test_every_package_directory_is_a_known_layer() -> None:
    for child in SRC.iterdir():
        if child.is_dir() and (child / "__init__.py").exists():
            assert _layer_of(f"paglets.{child.name}") is not None, child.name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down(path: Path) -> None:
    module = "paglets." + ".".join(path.relative_to(SRC).with_suffix("").parts)
    own = _layer_of(module)
    if own is None:
        return
    for imported, line in _imports(path):
        target = _layer_of(imported)
        if target is None:
            continue
        assert target <= own, f"{path.name}:{line} imports {imported} from a higher layer"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_pickle(path: Path) -> None:
    for imported, line in _imports(path):
        assert imported.split(".")[0] not in {"pickle", "cPickle", "dill", "marshal"}, (
            f"{path.name}:{line} imports {imported}"
        )


def test_init_files_hold_only_a_docstring() -> None:
    for init in SRC.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        body = [n for n in tree.body if not isinstance(n, ast.Expr)]
        assert not body, f"{init} holds code; the public import paths are the modules"


def test_py_typed_is_shipped() -> None:
    assert (SRC / "py.typed").exists()


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("paglets.core.agent", ["Paglet", "PagletState", "ACTIVE", "INACTIVE"]),
        ("paglets.core.messages", ["Message", "FutureReply", "ReplySet"]),
        (
            "paglets.core.errors",
            ["PagletError", "NotHandledError", "HostError", "TransferError"],
        ),
        ("paglets.runtime.host", ["Host"]),
        ("paglets.remote.proxy", ["PagletProxy"]),
        ("paglets.remote.client", ["HostClient"]),
        ("paglets.artifacts", ["ArtifactRef"]),
        ("paglets.core.events", ["CreationEvent", "MobilityEvent", "CloneEvent"]),
        ("paglets.core.context_events", ["ContextEvent"]),
        (
            "paglets.core.runtime_values",
            ["ServiceScope", "ResidentLifecycle", "ArrivalMode", "EnvelopeKind", "require_enum"],
        ),
        ("paglets.core.itinerary", ["ItineraryPlan", "TaskItineraryPlan", "ItineraryAgentMixin"]),
        (
            "paglets.serialization.codec",
            [
                "qualified_name",
                "resolve_qualified_name",
                "dataclass_to_wire",
                "dataclass_from_wire",
            ],
        ),
    ],
)
def test_documented_imports_work(module: str, names: list[str]) -> None:
    loaded = importlib.import_module(module)
    for name in names:
        assert hasattr(loaded, name), f"{module} lacks {name}"


def test_top_level_package_exports_nothing() -> None:
    with pytest.raises(ImportError):
        exec("from paglets import Host", {})
