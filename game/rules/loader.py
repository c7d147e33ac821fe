"""Reading a rule set from YAML (or already-parsed data), with errors that name the path and line."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .bounded_yaml import BoundedLoader, check_size
from .errors import RuleError, RulesInvalid
from .references import reference_errors
from .ruleset import RuleSet, cross_check

DEFAULT_RULES = "default_rules.yaml"


def load_rules(path: str | Path) -> RuleSet:
    """Load and validate a rules file. Raises RulesInvalid listing every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesInvalid(
            [RuleError("", f"cannot read the rules file: {exc.strerror or exc}")], str(path)
        ) from None
    return parse_rules_yaml(text, source=str(path))


def default_rules() -> RuleSet:
    """The embedded default rule set for software teams."""
    return parse_rules_yaml(default_rules_text(), source=DEFAULT_RULES)


def default_rules_text() -> str:
    return resources.files("game").joinpath("data").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def parse_rules_yaml(text: str, source: str = "rules") -> RuleSet:
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(text)  # refuses control characters here (ReaderError)
        node = loader.get_single_node()
        if node is None:
            raise RulesInvalid([RuleError("", "the rules file is empty")], source)
        check_size(node)
        _reject_duplicate_keys(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise RulesInvalid([RuleError("", f"malformed YAML: {problem}", line=line)], source) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (control characters, U+FFFE, ...): say which, and where.
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        problem = f"the character U+{ord(character):04X} is not allowed ({exc.reason})"
        raise RulesInvalid([RuleError("", f"malformed YAML: {problem}", line=line)], source) from None
    except yaml.YAMLError as exc:
        raise RulesInvalid([RuleError("", f"malformed YAML: {exc}")], source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return parse_rules(data, source=source, lines=_line_index(node))


def parse_rules(data: object, source: str = "rules", lines: Mapping[str, int] | None = None) -> RuleSet:
    """Validate already-parsed rules data (a mapping, as from YAML or JSON)."""
    lines = lines or {}
    if not isinstance(data, Mapping):
        raise RulesInvalid(
            [RuleError("", f"a rule set is a mapping of keys, not a {type(data).__name__}")], source
        )
    references = reference_errors(data)
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        structural = [_from_pydantic(error, lines) for error in exc.errors()]
        reported = {error.path for error in structural}
        extra = [_with_line(e, lines) for e in references if e.path not in reported]
        raise RulesInvalid(structural + extra, source) from None
    problems = references + cross_check(rules)
    if problems:
        raise RulesInvalid([_with_line(problem, lines) for problem in problems], source)
    return rules


class DuplicateKey(yaml.MarkedYAMLError):
    pass


def _reject_duplicate_keys(node: yaml.Node) -> None:
    # PyYAML silently keeps the last of two equal keys; in a rules file that hides a rule.
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise DuplicateKey(problem=f"duplicate key {key.value!r}", problem_mark=key.start_mark)
                seen.add(key.value)
            _reject_duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item)


def _line_index(node: yaml.Node) -> dict[str, int]:
    """Dotted path -> 1-based line, for every node of the document."""
    index: dict[str, int] = {}

    def walk(current: yaml.Node, path: str) -> None:
        index[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                index[child] = key.start_mark.line + 1
                walk(value, child)
                index[child] = key.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                walk(item, f"{path}.{i}" if path else str(i))

    walk(node, "")
    return index


def _from_pydantic(error: Any, lines: Mapping[str, int]) -> RuleError:
    # Tagged unions add the tag to the location ("criteria.metric_total.threshold"); a reader of the
    # file sees no such key, so drop it again. Pydantic reports dict-key errors under "[key]".
    loc = [str(part) for part in error["loc"]]
    clean = _drop_tags(loc)
    path = ".".join(clean)
    message = str(error["msg"]).removeprefix("Value error, ")
    found = error.get("input")
    # A whole mapping as "found" is noise: the path already points at it.
    hide = error["type"] in ("missing", "union_tag_not_found") or isinstance(found, dict)
    value = None if hide else _show(found)
    if error["type"] == "extra_forbidden":
        message = f"unknown key {clean[-1]!r} (a typo?)"
        value = None
    return _with_line(RuleError(path, message, value), lines)


def _drop_tags(loc: list[str]) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(loc):
        if part == "[key]":
            continue
        previous = loc[i - 1] if i else ""
        tagged_parent = previous in ("criteria", "levels") or (
            previous.isdigit() and i >= 2 and loc[i - 2] == "of"
        )
        if tagged_parent and _is_tag(part):
            continue
        out.append(part)
    return out


_TAGS = frozenset(
    {"metric_total", "event_count", "streak", "level", "badge", "all", "any", "granted"}
    | {"polynomial", "exponential", "table"}
)


def _is_tag(part: str) -> bool:
    return part in _TAGS


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _with_line(error: RuleError, lines: Mapping[str, int]) -> RuleError:
    path = error.path
    while path and path not in lines:
        path = path.rpartition(".")[0]
    line = lines.get(path)
    if line is None:
        return error
    return RuleError(error.path, error.message, error.value, line)
