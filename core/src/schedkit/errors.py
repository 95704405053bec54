"""The exceptions schedkit raises: each names the thing that is wrong."""

from __future__ import annotations

from collections.abc import Iterable


class SchedkitError(Exception):
    """Base class of every error schedkit raises on purpose."""


class SpecError(SchedkitError, ValueError):
    """A parameter or spec value is invalid; ``path`` is its key path (``schedule.lr.warmup``)."""

    def __init__(self, message: str, path: str = "", others: Iterable[SpecError] = ()) -> None:
        self.path = path
        self.message = message
        #: further problems found at the same time (every unknown key of a table)
        self.others = list(others)
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, prefix: str) -> SpecError:
        """The same error with ``prefix`` put in front of its key path."""
        path = f"{prefix}.{self.path}" if self.path else prefix
        return type(self)(self.message, path, [o.at(prefix) for o in self.others])

    def all(self) -> list[SpecError]:
        """This problem and the others found with it."""
        return [self, *self.others]


class UnknownNameError(SchedkitError, LookupError):
    """No registered component has this name; the message suggests the closest ones."""

    def __init__(self, kind: str, name: str, suggestions: Iterable[str], note: str = "") -> None:
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions)
        msg = f"unknown {kind} {name!r}"
        if self.suggestions:
            msg += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        if note:
            msg += "\n" + note
        super().__init__(msg)

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


class ConflictError(SchedkitError):
    """Two plugins claim the same name; schedkit never lets one silently shadow the other.

    ``plugins`` and ``distributions`` name the parties (the distribution is None for a plugin
    registered in-process), so a report can say which one to uninstall or disable.
    """

    def __init__(
        self,
        message: str,
        *,
        plugins: Iterable[str] = (),
        distributions: Iterable[str | None] = (),
    ) -> None:
        self.plugins = tuple(plugins)
        self.distributions = tuple(distributions)
        super().__init__(message)

    @property
    def plugin(self) -> str:
        """The first plugin named (what a listing of broken plugins shows)."""
        return self.plugins[0] if self.plugins else "?"

    @property
    def distribution(self) -> str | None:
        """The distribution of :attr:`plugin`."""
        return self.distributions[0] if self.distributions else None


class PluginImportError(SchedkitError, ImportError):
    """A plugin failed to import; the original traceback is kept in ``traceback``."""

    def __init__(self, plugin: str, distribution: str | None, traceback: str) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.traceback = traceback
        where = f" (from {distribution})" if distribution else ""
        super().__init__(f'Error importing plugin "{plugin}"{where}:\n{traceback}')


class StateError(SchedkitError, ValueError):
    """A state dict cannot be loaded into this object (wrong format, a bad value or a
    different spec); ``path`` is the key path in the state (``schedule_state.best``)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, prefix: str) -> StateError:
        """The same error with ``prefix`` put in front of its key path."""
        path = f"{prefix}.{self.path}" if self.path else prefix
        return StateError(self.message, path)


class SchedkitWarning(UserWarning):
    """Base class of schedkit's warnings (the command line prints each as one line)."""


class HorizonWarning(SchedkitWarning):
    """A run went past the end of its schedules (:meth:`schedkit.Built.step` says it once):
    the horizon was probably computed without gradient accumulation, the world size or
    ``drop_last``."""
