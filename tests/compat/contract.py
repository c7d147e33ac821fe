"""What the contract tests share: a failure that names the library, its installed version, what it
no longer does and the compatibility module to fix before upgrading."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest


class Contract:
    """What one compatibility module relies on in one library."""

    def __init__(self, distribution: str, compat_module: str) -> None:
        self.distribution = distribution
        self.version = version(distribution)
        self.compat_module = compat_module

    def check(self, holds: object, what: str) -> None:
        """Fail, naming the upgrade to check, unless the library still does `what`."""
        if not holds:
            pytest.fail(
                f"{self.distribution} {self.version} no longer {what}: {self.compat_module} relies on it "
                f"(check that module against this version of {self.distribution} before upgrading)",
                pytrace=False,
            )

    def has_attribute(self, owner: object, name: str) -> Any:
        """`owner.name`, failing the contract if it is gone."""
        self.check(hasattr(owner, name), f"has {_name(owner)}.{name}")
        return getattr(owner, name)

    def takes(self, function: Callable[..., Any], *parameters: str) -> None:
        """`function` still accepts these parameters by name (or ``*args`` for ``"*"``)."""
        signature = inspect.signature(function)
        kinds = {p.kind for p in signature.parameters.values()}
        for parameter in parameters:
            if parameter == "*":
                accepted = inspect.Parameter.VAR_POSITIONAL in kinds
            else:
                accepted = parameter in signature.parameters or inspect.Parameter.VAR_KEYWORD in kinds
            self.check(accepted, f"lets {function.__qualname__}{signature} take {parameter!r}")

    def is_coroutine_function(self, function: Callable[..., Any]) -> None:
        self.check(inspect.iscoroutinefunction(function), f"makes {function.__qualname__} a coroutine")


def _name(owner: object) -> str:
    return getattr(owner, "__qualname__", type(owner).__qualname__)
