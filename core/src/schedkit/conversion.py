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

import contextlib
import contextvars
import difflib
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from schedkit import _text, _toml_out
from schedkit._bounds import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_FILES,
    MAX_INT_DIGITS,
    MAX_TEXT,
    MAX_VALUES,
    Reading,
    TooLong,
    bounded,
)
from schedkit._sources import PluginSource, Switches, entry_points
from schedkit.errors import SchedkitError, SpecError

__all__ = [
    "FACTS",
    "GROUP",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_FILES",
    "MAX_INT_DIGITS",
    "MAX_TEXT",
    "MAX_VALUES",
    "Conversion",
    "ConversionError",
    "Draft",
    "Facts",
    "NotThisSource",
    "Reading",
    "Sourced",
    "TooLong",
    "bounded",
    "convert",
    "converters",
    "dumps",
    "header",
    "reads",
    "sources",
]

#: the entry-point group converters are declared in
GROUP = "schedkit.converters"
#: the run facts a converter may ask for, with the command-line flag that gives each
FACTS = {
    "steps_per_epoch": "--steps-per-epoch",
    "dataset_size": "--dataset-size",
    "world_size": "--world-size",
}


@attrs.frozen
class Sourced:
    """A value of the converted setup and the source key (or keys) it came from."""

    value: Any
    source: str


class ConversionError(SchedkitError, ValueError):
    """Every problem found while converting: each a :class:`SpecError` naming its source key."""

    def __init__(self, problems: list[SpecError], file: str = "") -> None:
        self.problems = problems
        # file names, keys and values come from the file: shown escaped, one line each
        head = f"{_text.escape(file)}: " if file else ""
        n = len(problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} converting the file:"]
        lines += [f"  {_text.escape(str(p))}" for p in problems]
        super().__init__("\n".join(lines))


class NotThisSource(SpecError):
    """Raised by a converter that finds none of the keys that set its source's optimizer or
    schedule in the file: the file is another library's (a wrong ``--from``)."""


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

    ``optimizer`` is the single ``[optimizer]`` table; ``optimizers`` the
    ``[optimizers.NAME]`` tables of a source naming several optimizers (each with its
    ``params``), in the source's order: a draft fills one or the other. ``problems``
    collects the source keys that change training but cannot be expressed (all are
    reported together); ``ignored`` the keys that do not affect the optimizer, schedules
    or clipping.
    """

    run: dict[str, Sourced] = attrs.Factory(dict)
    optimizer: dict[str, Sourced] = attrs.Factory(dict)
    optimizers: dict[str, dict[str, Sourced]] = attrs.Factory(dict)
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
    #: every file the conversion read (the file and its base files), links resolved
    inputs: tuple[str, ...] = ()

    def setup(self) -> Any:
        """The converted setup, loaded (:func:`schedkit.loads_setup`)."""
        from schedkit.setup import loads_setup

        return loads_setup(self.toml)

    def write(self, output: str | Path, *, force: bool = False) -> Path:
        """Write the setup to ``output`` (through a link, to the file it points at).

        Never over a file the conversion read (the file or any of its base files, compared
        after resolving links, hard links included), nor a directory. A missing or regular
        ``output`` gets a new file beside it, renamed over it when whole, so a failed write
        leaves nothing behind and the old file as it was; an existing regular file only
        with ``force``, and the new one keeps its permission bits. Anything else (a
        terminal or other device, a FIFO, ``/dev/stdout`` or another ``/dev/fd/N``) is
        written in place, without ``force``: renaming over it would replace it.

        :returns: the path written.
        :raises ConversionError: the output is an input, a directory, exists (a regular
            file, without ``force``), or cannot be written.
        """
        shown = str(output)
        target = Path(os.path.realpath(output))

        def refuse(why: str) -> ConversionError:
            return ConversionError([SpecError(why, "output")], shown)

        def failed(e: OSError | UnicodeError) -> ConversionError:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            return refuse(f"cannot be written: {why}")

        for src in self.inputs:
            if _same_file(target, Path(src)):
                raise refuse(
                    f"is {'the file' if src == self.inputs[0] else 'a base file'} being "
                    f"converted ({src}): schedkit convert never writes over an input"
                )
        try:
            st: os.stat_result | None = os.stat(output)  # through links, /dev/stdout's too
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise failed(e) from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise refuse("is a directory")
        if st is not None and (not stat.S_ISREG(st.st_mode) or _open_stream(output)):
            return self._write_in_place(output, regular=stat.S_ISREG(st.st_mode), fail=failed)
        if os.path.lexists(output) and not force:
            raise refuse("exists; give --force to replace it")
        tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
        made = False
        try:
            # a replaced file's bits, set before any text is in it; a new one: the umask's
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if st is None else 0o600)
            made = True
            with open(fd, "w", encoding="utf-8") as f:
                if st is not None:
                    os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)
                f.write(self.toml)
            os.replace(tmp, target)
        except BaseException as e:  # Ctrl-C too: the temporary file goes
            if made:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            if not isinstance(e, (OSError, UnicodeError)):
                raise
            raise failed(e) from None
        return target

    def _write_in_place(
        self,
        output: str | Path,
        *,
        regular: bool,
        fail: Callable[[OSError | UnicodeError], ConversionError],
    ) -> Path:
        """Write into the existing ``output`` (a device, a FIFO, an open stream's path):
        opened for writing, never created nor renamed over; a FIFO waits for its reader."""
        try:
            fd = os.open(output, os.O_WRONLY | (os.O_TRUNC if regular else 0))
            with open(fd, "w", encoding="utf-8") as f:
                f.write(self.toml)
        except (OSError, UnicodeError) as e:
            raise fail(e) from None
        return Path(output)


def _open_stream(path: str | Path) -> bool:
    """Whether ``path`` names a process's open file (``/dev/stdout``, ``/dev/fd/1``,
    ``/proc/self/fd/1``, or a link to one): the stream the caller gave, written in place
    even when it is a regular file (a shell's ``> file``), never renamed over."""
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's limit of links followed
        if p.startswith("/dev/fd/") or re.fullmatch(r"/proc/[^/]+/fd/\d+", p):
            return True
        try:
            link = os.readlink(p)
        except OSError:  # not a link (or nothing there)
            return False
        p = os.path.normpath(os.path.join(os.path.dirname(p), link))
    return False


def _same_file(a: Path, b: Path) -> bool:
    """The same file: the same resolved path, or the same file on disk (a hard link)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


#: the files the running conversion has read (see :func:`reads`)
_READ: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar(
    "schedkit_conversion_read", default=None
)


def reads(path: Path) -> None:
    """Declare that the running conversion reads ``path`` (a converter calls it for every
    file it opens: the file and its base files), so that the result is never written over
    it."""
    read = _READ.get()
    if read is not None:
        read.append(path)


def _enabled() -> list[PluginSource]:
    """The converters' entry points the registry's switches leave on: none named in
    ``SCHEDKIT_DISABLED_PLUGINS`` (by source or distribution), and with
    ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD`` only the first-party ones."""
    switches = Switches(os.environ)
    return [ep for ep in entry_points(GROUP) if switches.skip_reason({ep.name}, ep.project) is None]


def converters() -> dict[str, Callable[[Path, Facts], Draft]]:
    """The installed converters by source name (loaded on use), as the plugin switches
    leave them (``SCHEDKIT_DISABLED_PLUGINS``, ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD``)."""
    out: dict[str, Callable[[Path, Facts], Draft]] = {}
    for ep in _enabled():
        out.setdefault(ep.name, _lazy(ep))
    return out


def _lazy(ep: PluginSource) -> Callable[[Path, Facts], Draft]:
    def call(path: Path, facts: Facts) -> Draft:
        if ep.load is None:
            raise ImportError(f"entry point {ep.name} = {ep.value} cannot be loaded")
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
    if source not in known and source in {ep.name for ep in entry_points(GROUP)}:
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
    read: list[Path] = [path]
    token = _READ.set(read)
    try:
        draft = known[source](path, facts)
    except NotThisSource as e:
        why = f"{e.message}: not a {source} config{_looks_like(path, source, known)}"
        raise ConversionError([SpecError(why, e.path)], where) from None
    except SpecError as e:
        if not e.path:  # the file itself cannot be read so: perhaps another library's
            hint = _looks_like(path, source, known, quiet=True)
            e = SpecError(e.message + hint, e.path, e.others) if hint else e
        raise ConversionError([e], where) from None
    finally:
        _READ.reset(token)
    if draft.problems:
        raise ConversionError(draft.problems, where)
    try:
        text = header(source, path.name, draft.notes) + "\n" + dumps(draft)
    except SpecError as e:  # a value TOML has no type for (a YAML date, ...)
        raise ConversionError([e], where) from None
    except TypeError as e:  # the same in a table's name
        raise ConversionError([SpecError(str(e))], where) from None
    from schedkit.setup import SetupError, loads_setup

    try:
        loads_setup(text)
    except SetupError as e:  # a converter's mistake, reported rather than written out
        raise ConversionError(e.problems, where) from None
    inputs = tuple(dict.fromkeys(os.path.realpath(p) for p in read))
    return Conversion(source, where, text, tuple(draft.ignored), inputs)


def _looks_like(
    path: Path,
    source: str,
    known: Mapping[str, Callable[[Path, Facts], Draft]],
    *,
    quiet: bool = False,
) -> str:
    """Which other installed converters read ``path`` (said in the error of a wrong
    ``--from``); each is tried with every fact given, as a guess only. ``quiet``: nothing
    when none does."""
    facts = Facts(1, 1, 1)
    fits = []
    for name, fn in sorted(known.items()):
        if name == source:
            continue
        try:
            fn(path, facts)
        except Exception:  # not this one either (a guess, never an error)
            continue
        fits.append(name)
    if not fits:
        return "" if quiet else "; no installed converter recognises it"
    return (
        "; it looks like a "
        + " or ".join(fits)
        + " config: convert it with "
        + " or ".join(f"--from {n}" for n in fits)
    )


# -- writing ------------------------------------------------------------------------------


def header(source: str, name: str, notes: list[str]) -> str:
    """The comment lines on top of a converted setup: where it came from, and the notes.
    Every text is escaped (:func:`schedkit._toml_out.comment`): a file's name or a note
    holding a line break stays one comment line."""
    c = _toml_out.comment
    lines = [f"# converted by `schedkit convert --from {c(source)}` from {c(name)}"]
    lines += [f"# {c(line)}" for line in notes]
    return "\n".join(lines) + "\n"


def _table(doc: _toml_out.Commented, table: Mapping[str, Sourced]) -> Any:
    rows = []
    for k, s in table.items():
        if s.value is None:
            continue
        try:
            _toml_out.key(k)
            _toml_out.value(s.value)
        except TypeError as e:
            raise SpecError(str(e), s.source) from None
        rows.append((k, s.value, s.source))
    return doc.table(rows)


def dumps(draft: Draft) -> str:
    """The draft as a setup's TOML, every value followed by a comment naming its source."""
    doc = _toml_out.Commented()
    for name in ("run", "optimizer"):
        table: dict[str, Sourced] = getattr(draft, name)
        if table:
            doc.add(name, _table(doc, table))
    if draft.optimizers:
        doc.add_tables("optimizers", {k: _table(doc, t) for k, t in draft.optimizers.items()})
    if draft.rules:
        doc.add_array("rules", [_table(doc, rule) for rule in draft.rules])
    if draft.schedules:
        doc.add_tables("schedules", {k: _table(doc, s) for k, s in draft.schedules.items()})
    if draft.clip:
        doc.add("clip", _table(doc, draft.clip))
    return doc.dumps()
