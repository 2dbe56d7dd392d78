"""The one error type users see: a single line naming the place and the fix."""

from __future__ import annotations


class MarathonError(Exception):
    """An error caused by the user's input or environment, shown as one line.

    `where` is a location such as ``marathon.yaml:14:5`` or ``app_spec.xml:3``; `exit_code` is 2
    for bad input (nothing was run or written) and 1 for failures while running.
    """

    def __init__(self, message: str, *, where: str = "", exit_code: int = 2) -> None:
        self.message = message
        self.where = where
        self.exit_code = exit_code
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return " ".join(text.split("\n"))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`" (did you mean 'test'?)"` for the closest choice, or a list of what exists."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if choices:
        return f" (expected one of: {', '.join(sorted(choices))})"
    return ""
