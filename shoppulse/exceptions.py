"""The one root of every error ShopPulse raises on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError
    from yaml import YAMLError


class ShopPulseError(Exception):
    """Base class: catch this to handle any ShopPulse failure."""


def validation_problems(error: ValidationError) -> str:
    """A file's pydantic ValidationError as one line: ``where: what`` per problem, joined
    by ``; ``; ``file`` for a check of the whole file. Its own str() spans lines and
    echoes the input."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "file"
        cause = problem.get("ctx", {}).get("error")
        # A validator's ValueError, without pydantic's "Value error, " before it.
        what = str(cause) if problem["type"] == "value_error" and cause is not None else problem["msg"]
        problems.append(f"{where}: {what}")
    return "; ".join(problems)


def yaml_problem(error: YAMLError) -> str:
    """A YAML parse error as one line: where and what. Its own str() spans lines and draws
    a caret under the input."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {problem}"
