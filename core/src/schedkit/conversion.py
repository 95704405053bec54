"""Converting another library's config file into a setup: ``schedkit.convert(...)``.

The core knows no source library. Converters are found through the entry-point group
``schedkit.converters`` (the name is the source: ``transformers``, ``timm``...); each is a
function ``convert(path, facts) -> Draft`` that reads the file without executing it and
fills a :class:`Draft`: the setup's tables, every value with the source key it came from
(:class:`Sourced`), the keys it ignored, and the keys that change training but cannot be
expressed. The core writes the draft as TOML, each value commented with its source key,
and checks that the result loads as a setup.

What a converter reads is bounded (docs/guarantees.md, "Bounds"): :class:`Reading` reads
a conversion's files within :data:`MAX_BYTES` and :data:`MAX_FILES`, and :func:`bounded`
checks the data read from one of them against :data:`MAX_VALUES`, :data:`MAX_DEPTH`,
:data:`MAX_INT_DIGITS` and :data:`MAX_TEXT`, each failure a :class:`SpecError` naming the
file and the key path.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from schedkit import _toml_out, entry_points
from schedkit.errors import SchedkitError, SpecError

#: the entry-point group converters are declared in
GROUP = "schedkit.converters"
#: the run facts a converter may ask for, with the command-line flag that gives each
FACTS = {
    "steps_per_epoch": "--steps-per-epoch",
    "dataset_size": "--dataset-size",
    "world_size": "--world-size",
}


#: the bytes one conversion reads: the file and its base files together
MAX_BYTES = 1 << 18
#: the files one conversion reads: the file and its base files, each read counted
MAX_FILES = 64
#: the values of one file's data (lists and mappings, their keys and their items), a
#: value counted each time it is used (a YAML alias as often as it appears)
MAX_VALUES = 10_000
#: how deeply lists and mappings nest in one file's data
MAX_DEPTH = 32
#: the digits of an integer
MAX_INT_DIGITS = 1_000
#: the characters of a string
MAX_TEXT = 1 << 16

_INT_LIMIT = 10**MAX_INT_DIGITS


@attrs.frozen
class Sourced:
    """A value of the converted setup and the source key (or keys) it came from."""

    value: Any
    source: str


class ConversionError(SchedkitError, ValueError):
    """Every problem found while converting: each a :class:`SpecError` naming its source key."""

    def __init__(self, problems: list[SpecError], file: str = "") -> None:
        self.problems = problems
        head = f"{file}: " if file else ""
        n = len(problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} converting the file:"]
        lines += [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))


@attrs.frozen
class Facts:
    """Facts of the run that a config file does not hold (asked on the command line)."""

    steps_per_epoch: int | None = None
    dataset_size: int | None = None
    world_size: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in FACTS:
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise SpecError(f"expected a positive whole number, got {v!r}", name)

    def need(self, name: str, why: str) -> int:
        """The fact ``name``, or an error saying why it is needed and how to give it."""
        value = getattr(self, name)
        if value is None:
            raise SpecError(f"{why}: give {name} ({FACTS[name]} on the command line)", name)
        return int(value)


@attrs.define
class Draft:
    """A converted setup being filled: the setup's tables with sourced values.

    ``problems`` collects the source keys that change training but cannot be expressed
    (all are reported together); ``ignored`` the keys that do not affect the optimizer,
    schedules or clipping.
    """

    run: dict[str, Sourced] = attrs.Factory(dict)
    optimizer: dict[str, Sourced] = attrs.Factory(dict)
    rules: list[dict[str, Sourced]] = attrs.Factory(list)
    schedules: dict[str, dict[str, Sourced]] = attrs.Factory(dict)
    clip: dict[str, Sourced] | None = None
    notes: list[str] = attrs.Factory(list)
    ignored: list[str] = attrs.Factory(list)
    problems: list[SpecError] = attrs.Factory(list)

    def refuse(self, key: str, why: str) -> None:
        """Record a source key that changes training and cannot be expressed."""
        self.problems.append(SpecError(why, key))


@attrs.frozen
class Conversion:
    """The result of :func:`convert`: the setup as commented TOML, and what was ignored."""

    source: str
    file: str
    toml: str
    ignored: tuple[str, ...] = ()

    def setup(self) -> Any:
        """The converted setup, loaded (:func:`schedkit.loads_setup`)."""
        from schedkit.setup import loads_setup

        return loads_setup(self.toml)


#: the distribution of the first-party converters (loaded with autoload off)
FIRST_PARTY = "schedkit-convert"


def _enabled() -> list[importlib.metadata.EntryPoint]:
    """The converters' entry points the registry's switches leave on: none named in
    ``SCHEDKIT_DISABLED_PLUGINS`` (by source or distribution), and with
    ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD`` only the first-party ones."""
    from schedkit.registry import Switches

    switches = Switches(os.environ)
    return [
        ep
        for ep, dist, _ in entry_points.find(GROUP)
        if switches.skip_reason({ep.name}, dist, {FIRST_PARTY}) is None
    ]


def converters() -> dict[str, Callable[[Path, Facts], Draft]]:
    """The installed converters by source name (loaded on use), as the plugin switches
    leave them (``SCHEDKIT_DISABLED_PLUGINS``, ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD``)."""
    out: dict[str, Callable[[Path, Facts], Draft]] = {}
    for ep in _enabled():
        out.setdefault(ep.name, _lazy(ep))
    return out


def _lazy(ep: importlib.metadata.EntryPoint) -> Callable[[Path, Facts], Draft]:
    def call(path: Path, facts: Facts) -> Draft:
        fn: Callable[[Path, Facts], Draft] = ep.load()
        return fn(path, facts)

    return call


def sources() -> list[str]:
    """The names of the sources a converter is installed for."""
    return sorted({ep.name for ep in _enabled()})


def convert(
    source: str,
    file: str | Path,
    *,
    steps_per_epoch: int | None = None,
    dataset_size: int | None = None,
    world_size: int | None = None,
) -> Conversion:
    """Read another library's config ``file`` into an equivalent setup.

    ``source`` names the library (``schedkit.conversion.sources()`` lists the installed
    converters). Facts the file does not hold are given as keywords when the source needs
    them: ``steps_per_epoch`` (epochs to steps), ``dataset_size`` and ``world_size``.

    :param source: the library the file is for (``schedkit.conversion.sources()``).
    :param file: the path of the config file.
    :param steps_per_epoch: the steps of one epoch, for a file counting in epochs.
    :param dataset_size: the number of training samples, for a source that needs it.
    :param world_size: the number of processes, for a source that needs it.
    :returns: the :class:`Conversion`: the setup and what was mapped.
    :raises ConversionError: every key that changes training and cannot be expressed, and
        every missing fact.
    """
    where = str(file)
    known = converters()
    if source not in known and source in {ep.name for ep, _, _ in entry_points.find(GROUP)}:
        raise ConversionError(
            [
                SpecError(
                    f"the converter {source!r} is installed but switched off "
                    "(SCHEDKIT_DISABLED_PLUGINS, or SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD for a "
                    "third party's)",
                    "source",
                )
            ]
        )
    if source not in known:
        close = difflib.get_close_matches(str(source), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        have = ", ".join(sorted(known)) or "none installed"
        raise ConversionError(
            [SpecError(f"no converter for {source!r}{hint} (converters: {have})", "source")]
        )
    try:
        facts = Facts(steps_per_epoch, dataset_size, world_size)
    except SpecError as e:
        raise ConversionError([e], where) from None
    path = Path(file)
    if not path.is_file():
        raise ConversionError([SpecError("no such file")], where)
    if path.stat().st_size > MAX_BYTES:  # before any converter, a third party's too
        raise ConversionError([SpecError(f"{path.name}: more than {MAX_BYTES:,} bytes")], where)
    try:
        draft = known[source](path, facts)
    except SpecError as e:
        raise ConversionError([e], where) from None
    if draft.problems:
        raise ConversionError(draft.problems, where)
    head = [f"# converted by `schedkit convert --from {source}` from {path.name}"]
    head += [f"# {line}" for line in draft.notes]
    try:
        text = "\n".join(head) + "\n\n" + dumps(draft)
    except TypeError as e:  # a value TOML has no type for (a YAML date, ...)
        raise ConversionError([SpecError(str(e))], where) from None
    from schedkit.setup import SetupError, loads_setup

    try:
        loads_setup(text)
    except SetupError as e:  # a converter's mistake, reported rather than written out
        raise ConversionError(e.problems, where) from None
    return Conversion(source, where, text, tuple(draft.ignored))


# -- bounds -------------------------------------------------------------------------------


class Reading:
    """The files one conversion reads, within :data:`MAX_FILES` and :data:`MAX_BYTES`
    together (a converter makes one and reads the file and its bases through it)."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def text(self, path: Path, key: str = "") -> str:
        """The text of ``path`` (UTF-8); ``key`` is the source key that named the file
        (``_BASE_``), for the error."""
        self.files += 1
        if self.files > MAX_FILES:
            raise SpecError(
                f"{path.name}: more than {MAX_FILES} files to read (bases included)", key
            )
        left = MAX_BYTES - self.bytes
        try:
            with path.open("rb") as f:
                raw = f.read(left + 1)
        except OSError as e:
            raise SpecError(f"cannot read {path.name}: {e.strerror or e}", key) from None
        if len(raw) > left:
            raise SpecError(
                f"{path.name}: more than {MAX_BYTES:,} bytes to read (bases included)", key
            )
        self.bytes += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"cannot read {path.name}: not UTF-8 ({e.reason})", key) from None


class TooLong:
    """A number with more than :data:`MAX_INT_DIGITS` digits, as a parser hands it to
    :func:`bounded` (which names its key) instead of converting its digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<a number of {self.digits:,} digits>"


def _label(path: str, key: Any) -> str:
    text = key if isinstance(key, str) else repr(key)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{path}.{text}" if path else text


def bounded(data: Any, file: str) -> Any:
    """``data`` (read from ``file``), or a :class:`SpecError` naming the file and the key
    path where it exceeds a bound: more than :data:`MAX_VALUES` values (each shared value
    counted where it is used, so YAML aliases cannot multiply), nesting deeper than
    :data:`MAX_DEPTH`, a list or mapping inside itself, an integer of more than
    :data:`MAX_INT_DIGITS` digits, a string of more than :data:`MAX_TEXT` characters.

    It walks at most :data:`MAX_VALUES` values, without recursion."""
    count = 1
    stack: list[tuple[Any, str, int, tuple[int, ...]]] = [(data, "", 0, ())]
    while stack:
        value, path, depth, above = stack.pop()
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in above:
                raise SpecError(
                    f"{file}: the value contains itself (a YAML alias inside its own anchor)", path
                )
            if depth >= MAX_DEPTH:
                raise SpecError(f"{file}: lists and mappings nested deeper than {MAX_DEPTH}", path)
            count += len(value) * (2 if isinstance(value, dict) else 1)
            if count > MAX_VALUES:
                raise SpecError(
                    f"{file}: more than {MAX_VALUES:,} values (a YAML alias counts its values "
                    "each time it is used)",
                    path,
                )
            inner = (*above, id(value))
            if isinstance(value, dict):
                for k, v in value.items():
                    where = _label(path, k)
                    stack += [(k, where, depth + 1, inner), (v, where, depth + 1, inner)]
            else:
                stack += [(v, f"{path}[{i}]", depth + 1, inner) for i, v in enumerate(value)]
        elif isinstance(value, TooLong) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT
        ):
            raise SpecError(f"{file}: an integer of more than {MAX_INT_DIGITS:,} digits", path)
        elif isinstance(value, (str, bytes)) and len(value) > MAX_TEXT:
            raise SpecError(f"{file}: a string of more than {MAX_TEXT:,} characters", path)
    return data


# -- writing ------------------------------------------------------------------------------


def _lines(table: Mapping[str, Sourced]) -> list[str]:
    out = []
    for k, s in table.items():
        if s.value is None:
            continue
        out.append(f"{_toml_out.key(k)} = {_toml_out.value(s.value)}  # {s.source}")
    return out


def dumps(draft: Draft) -> str:
    """The draft as a setup's TOML, every value followed by a comment naming its source."""
    lines: list[str] = []
    for name in ("run", "optimizer"):
        table: dict[str, Sourced] = getattr(draft, name)
        if table:
            lines += ["", f"[{name}]", *_lines(table)]
    for rule in draft.rules:
        lines += ["", "[[rules]]", *_lines(rule)]
    for key, sched in draft.schedules.items():
        lines += ["", f"[schedules.{_toml_out.key(key)}]", *_lines(sched)]
    if draft.clip:
        lines += ["", "[clip]", *_lines(draft.clip)]
    return "\n".join(lines).lstrip("\n") + "\n"
