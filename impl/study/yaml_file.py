"""Read config.yaml strictly: the one place the project opens it.

Snakemake's own reading keeps the last of two equal keys silently and reports a
syntax error without the file's line; this reader refuses both with one line
(``file:line:column``) before anything else reads the file. ``load`` turns the
file into the typed ``Study`` (impl/study/model.py) for the commands that run
outside Snakemake (the runner's ``--profile``, ``compare``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from impl.study.errors import ConfigError

#: the pipeline's config, at the repository's top
CONFIG_FILE = Path(__file__).resolve().parents[2] / "config.yaml"


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""


class _DuplicateKeyError(Exception):
    def __init__(self, key: Any, mark: Any, first: Any) -> None:
        super().__init__(key)
        self.key, self.mark, self.first = key, mark, first


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise _DuplicateKeyError(key, key_node.start_mark, seen[key])
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read one config file strictly: ConfigError (one line, file:line:column) on a YAML
    syntax error, a duplicate key, an empty file or a top level that is not a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config: {path}:{line}: not UTF-8 text (byte "
                          f"{exc.object[exc.start]:#x}); allowed: a UTF-8 encoded YAML file"
                          ) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKeyError as exc:
        raise ConfigError(
            f"config: {path}:{exc.mark.line + 1}:{exc.mark.column + 1}: duplicate key "
            f"{exc.key!r} (first at line {exc.first.line + 1}; the last one would silently "
            "win); allowed: each key once per mapping"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "not valid YAML"
        raise ConfigError(f"config: {where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path}: not valid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"config: {path} is empty; allowed: a mapping of the keys in "
                          "config.yaml (profile, profiles, implementations, scenarios, ...)")
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: {path}: the top level is a {type(data).__name__}; "
                          "allowed: a mapping of the keys in config.yaml")
    return dict(data)


def check_config_files(paths: Iterable[str | Path]) -> None:
    """``load_config_file`` on each existing file (before Snakemake reads them its own way)."""
    for path in paths:
        load_config_file(path)
