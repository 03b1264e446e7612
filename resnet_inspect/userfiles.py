"""Reading the files users give (spec and claims files): a size limit checked before reading,
UTF-8 text, and YAML without aliases, tags or deep nesting (an alias bomb of half a kilobyte
expands to gigabytes). Every problem is one line naming the file and, where known, the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .fileio import open_regular, read_bounded
from .limits import LIMITS, over


class _PlainLoader(yaml.SafeLoader):
    """Safe YAML that refuses anchors and aliases and limits nesting; keeps line numbers."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(event.start_mark.line + 1, "YAML anchors and aliases (&name, *name) are not accepted")
        depth = getattr(self, "_depth", 0)
        if depth >= LIMITS.max_yaml_depth:
            raise _Refused(event.start_mark.line + 1, over("nesting depth", depth + 1, "max_yaml_depth"))
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


class _Refused(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def read_text(path: str | Path, kind: str) -> str:
    """The text of a user's ``kind`` file (e.g. "spec file"): a regular file, read within the size limit
    whatever its size claims."""
    path = Path(path)
    with open_regular(path, kind) as (handle, size):
        if size > LIMITS.max_file_bytes:
            raise UserError(f"cannot read {kind} {path}: " + over("its size in bytes", size, "max_file_bytes"))
        try:
            data = read_bounded(handle, LIMITS.max_file_bytes)
        except OSError as exc:
            raise UserError(f"cannot read {kind} {path}: {exc.strerror or exc}") from None
    if len(data) > LIMITS.max_file_bytes:  # a file whose size said less (/proc, a growing file)
        raise UserError(f"cannot read {kind} {path}: " + over("its size in bytes", len(data), "max_file_bytes"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"cannot read {kind} {path}: not UTF-8 text") from None


def parse(text: str, where: str, as_json: bool, loader: type[_PlainLoader] = _PlainLoader) -> Any:
    """JSON or YAML text to plain data; ``where`` names the source in errors (``file.yaml``)."""
    if len(text.encode("utf-8", "replace")) > LIMITS.max_file_bytes:
        raise UserError(f"{where}: " + over("the text's size in bytes", len(text.encode()), "max_file_bytes"))
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise UserError(f"{where}: " + over("nesting depth", 1000, "max_yaml_depth")) from None
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a SafeLoader subclass)
    except _Refused as exc:
        raise UserError(f"{where}:{exc.line}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{where}{line}: invalid YAML: {problem}") from None


def line_numbered_loader() -> type[_PlainLoader]:
    """A loader whose mappings carry ``__line__`` (where they start) and ``__lines__`` (of each key)."""

    class LineLoader(_PlainLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        for key, _ in node.value:
            if not (isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:str"):
                raise _Refused(key.start_mark.line + 1, "every key must be a name (text), not a number, list or null")
        mapping = loader.construct_mapping(node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = {key.value: key.start_mark.line + 1 for key, _ in node.value}
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader
