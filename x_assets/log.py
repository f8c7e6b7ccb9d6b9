"""The logging the library needs: Dagster's context.log, a logging.Logger, or a test's recorder."""

from typing import Protocol


class Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
