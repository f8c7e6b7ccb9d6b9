"""The logging the library needs: Dagster's context.log, a logging.Logger, or a test's recorder."""

from typing import Protocol


class Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


class NullLog:
    """A Log that says nothing: for a step whose words another step already said."""

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass
