"""The house drawn from the imports: every module of ``scribeflow`` lives in a room (a
subpackage), a room imports only the rooms its ``__init__`` docstring lists under
``May import:``, those rooms form floors (no room reaches back up to one that reaches it),
no module imports another in a circle, no module is a god module, and the core package never
imports Airflow. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PACKAGE = PLUGINS / "scribeflow"
#: Lines a core module may have: past this it holds more than one concern.
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PLUGINS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
ROOMS = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def imports_of(name: str) -> set[str]:
    """The Scribeflow modules ``name`` imports (at the top or inside functions)."""
    path = MODULES[name]
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            head = base.split(".")[: len(base.split(".")) - node.level + 1] if node.level else []
            module = ".".join(head + ([node.module] if node.module else []))
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def room_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def allowed(room: str) -> set[str]:
    doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text())) or ""
    line = re.search(r"^May import: (.+?)\.?$", doc, re.M)
    assert line, f"scribeflow/{room}/__init__.py does not say what it may import"
    named = line.group(1).strip()
    if named == "every room":
        return set(ROOMS)
    if named.startswith("nothing"):
        return set()
    return {r.strip() for r in named.split(",")}


def test_every_module_lives_in_a_room():
    loose = [n for n in MODULES if n != "scribeflow" and room_of(n) is None]
    assert not loose, f"modules outside every room: {loose}"
    assert len(ROOMS) >= 8, ROOMS


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_what_its_docstring_allows(room):
    permitted = allowed(room) | {room}
    unknown = permitted - set(ROOMS)
    assert not unknown, f"{room} lists rooms that do not exist: {unknown}"
    wrong = sorted(f"{n} -> {t}" for n in MODULES if room_of(n) == room
                   for t in imports_of(n) if room_of(t) not in permitted and t != "scribeflow")
    assert not wrong, f"{room} imports rooms its docstring does not allow: {wrong}"


def test_the_rooms_stand_on_floors():
    """No room allows one that allows it back, however far round: imports only run down."""
    graph = {room: allowed(room) - {room} for room in ROOMS if room != "cli"}
    floor: dict[str, int] = {}

    def height(room: str, path: tuple[str, ...] = ()) -> int:
        assert room not in path, f"rooms in a circle: {' -> '.join((*path, room))}"
        if room not in floor:
            floor[room] = 1 + max((height(r, (*path, room)) for r in graph[room]), default=-1)
        return floor[room]

    for room in graph:
        height(room)
    assert floor["core"] == 0 and max(floor.values()) >= 3, floor


def test_no_module_imports_in_a_circle():
    graph = {n: imports_of(n) for n in MODULES}
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for target in sorted(graph[node]):
            if seen.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail(f"import circle: {' -> '.join(cycle)}")
            if target not in seen:
                visit(target, [*path, target])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [node])


def test_no_module_is_a_god_module():
    sizes = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in MODULES.items()}
    large = {n: s for n, s in sizes.items() if s > MAX_LINES}
    assert not large, f"modules over {MAX_LINES} lines: {large}"


def test_the_core_never_imports_airflow():
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{name}: {m}" for m in modules
                          if m.split(".")[0] in ("airflow", "scribeflow_airflow")]
    assert not offenders, offenders
