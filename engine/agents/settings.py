"""Reading preset-specific settings out of `AgentConfig.options`, with one-line errors.

Options come from marathon.yaml, so a wrong type is the user's mistake: it is reported as a
MarathonError that names the agent and the key, never as a Python traceback.
"""

from __future__ import annotations

from engine.config.model import AgentConfig
from engine.errors import MarathonError


def _where(agent: AgentConfig, key: str) -> str:
    return f"agents.{agent.name}.options.{key}"


def option_str(agent: AgentConfig, key: str, default: str = "") -> str:
    value = agent.options.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise MarathonError(
            f"expected a string, got {type(value).__name__}", where=_where(agent, key)
        )
    return str(value)


def option_list(agent: AgentConfig, key: str) -> tuple[str, ...]:
    """A list of strings; a single string is accepted as a one-element list."""
    value = agent.options.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise MarathonError("expected a list of strings", where=_where(agent, key))


def option_float(agent: AgentConfig, key: str, default: float) -> float:
    value = agent.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise MarathonError(f"expected a positive number, got {value!r}", where=_where(agent, key))
    return float(value)


def extra_args(agent: AgentConfig) -> tuple[str, ...]:
    """`options.extra_args`: more command-line arguments, for flags a preset does not model."""
    return option_list(agent, "extra_args")
