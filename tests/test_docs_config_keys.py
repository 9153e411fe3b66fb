"""docs/configuration.md documents every key of every YAML under configs/, with its current default.

Each config file walks into dotted key paths (``anomaly.rules``, ``split.train``); a file of a config group gets its
group as prefix (``configs/trainer/cpu.yaml`` -> ``trainer.lr0``), which is how a user overrides it. ``defaults``
and ``hydra`` are Hydra's own and skipped. Each key must appear, in backticks, in the section of the page whose
heading names its file (``configs/tile.yaml``) or group folder (``configs/trainer/``); a key with a plain value must
also show that value in its table row (or, in a group, in the row of the option), so a changed default fails
here until the page follows. Keys inside list items (albumentations transform arguments) are checked by name in their section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
DOC = ROOT / "docs" / "configuration.md"
SKIPPED = {"defaults", "hydra"}
CONFIG_FILES = sorted(CONFIGS.rglob("*.yaml"))


def render(value) -> str:
    """A YAML value as the page writes it: ``null``, ``true``, ``[2.0, 98.0]``, ``0.5``, ``auto``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return str(value)


def walk(node, prefix: str = "") -> Iterator[tuple[str, object, bool]]:
    """``(dotted key, value, in_list)`` for every key under ``node``; keys inside list items keep their bare name."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not prefix and key in SKIPPED:
                continue
            path = f"{prefix}{key}"
            yield path, value, False
            yield from walk(value, f"{path}.")
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                for key, value in item.items():
                    yield str(key), value, True


def config_keys(path: Path) -> list[tuple[str, object, bool]]:
    group = path.parent.name if path.parent != CONFIGS else None
    prefix = f"{group}." if group else ""
    return list(walk(yaml.safe_load(path.read_text()) or {}, prefix))


def sections(text: str) -> dict[str, str]:
    """Markdown heading line -> the text under it, up to the next heading of any level."""
    out: dict[str, str] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line
            out[heading] = ""
        else:
            out[heading] = out.get(heading, "") + line + "\n"
    return out


def section_for(path: Path, text: str) -> str:
    name = f"configs/{path.parent.name}/" if path.parent != CONFIGS else f"configs/{path.name}"
    found = [body for heading, body in sections(text).items() if name in heading]
    assert found, f"docs/configuration.md has no heading naming {name}"
    return "".join(found)


def table_rows(section: str) -> dict[str, list[str]]:
    """First cell (without backticks) -> all cells, backticks stripped, for every table row of ``section``."""
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            cells = [c.strip().replace("`", "") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            rows[cells[0]] = cells
    return rows


def test_configs_exist() -> None:
    names = {p.relative_to(CONFIGS).as_posix() for p in CONFIG_FILES}
    assert {"base.yaml", "synth.yaml", "tile.yaml", "train.yaml", "predict.yaml", "evaluate.yaml", "count.yaml",
            "export.yaml", "doctor.yaml", "trainer/cpu.yaml", "model/yolov8n.yaml", "augment/overhead.yaml"} <= names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.relative_to(CONFIGS).as_posix() for p in CONFIG_FILES])
def test_every_key_is_documented_with_its_default(path: Path) -> None:
    text = DOC.read_text()
    section = section_for(path, text)
    rows = table_rows(section)
    # A group option may show its values in its own row (first cell: the option's name) instead of the key's.
    option_row = next((cells for first, cells in rows.items()
                       if path.parent != CONFIGS and first.split(" ")[0] == path.stem), [])
    missing, stale = [], []
    for key, value, in_list in config_keys(path):
        if f"`{key}`" not in section:
            missing.append(key)
            continue
        if in_list or isinstance(value, (dict, list)) and any(isinstance(v, dict) for v in value):
            continue  # transform arguments and lists of transforms: named, values in prose
        if isinstance(value, dict):
            continue  # a mapping of keys documented one by one
        shown = rows.get(key, [])[1:] + option_row[1:]
        if render(value) not in shown:
            stale.append(f"{key}: default {render(value)!r} (row: {rows.get(key)})")
    assert not missing, f"{path.relative_to(ROOT)}: keys missing from docs/configuration.md: {missing}"
    assert not stale, f"{path.relative_to(ROOT)}: defaults not shown in docs/configuration.md: {stale}"


def test_walk_finds_nested_group_and_list_keys() -> None:
    """The walk itself: nested paths, group prefixes, list-item keys, Hydra's keys skipped."""
    count = {key for key, _, _ in config_keys(CONFIGS / "count.yaml")}
    assert {"anomaly", "anomaly.rules", "anomaly.z_threshold", "conf"} <= count and "defaults" not in count
    cpu = {key for key, _, _ in config_keys(CONFIGS / "trainer" / "cpu.yaml")}
    assert "trainer.lr0" in cpu and "lr0" not in cpu
    overhead = config_keys(CONFIGS / "augment" / "overhead.yaml")
    assert ("_target_", "albumentations.RandomRotate90", True) in overhead
    assert ("augment.ultralytics.mosaic", 1.0, False) in overhead
    assert config_keys(CONFIGS / "base.yaml") == []


def test_the_check_catches_an_undocumented_key() -> None:
    section = section_for(CONFIGS / "tile.yaml", DOC.read_text())
    rows = table_rows(section)
    assert rows["tile_size_px"][1] == "640" and rows["percentiles"][1] == "[2.0, 98.0]"
    assert "`no_such_key`" not in section
