"""Reading a Python config file without running it: the plain-data part of its syntax tree.

:mod:`ast` parses the file and only plain data is evaluated: literal numbers, strings,
``None`` and booleans, lists, tuples and dicts, ``dict(...)`` with keywords, the arithmetic
configs use (``lr = 5e-4 * 1024 / 512``) and names bound earlier in the same file. Every
other construct (imports, other calls, attribute access, comprehensions, lambdas...) is an
error naming the file, the line and the name being bound.

Everything evaluated is bounded before it is computed, so no expression can hang or
exhaust memory (docs/guarantees.md, "Bounds"): integers of at most
``schedkit.conversion.MAX_INT_DIGITS`` digits (``10 ** 10 ** 10`` is refused without being
computed), strings of at most ``MAX_TEXT`` characters and lists of at most ``MAX_VALUES``
values (``'x' * n``, ``[0] * n``), nesting of at most ``MAX_DEPTH``, ``%`` formatting
widths of at most :data:`MAX_FORMAT_WIDTH`, expressions of at most
:data:`MAX_EXPRESSION_DEPTH` nested operations (a sum of that many terms), dict keys that
are strings, numbers or tuples of them.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from pathlib import Path
from typing import Any, NamedTuple

from schedkit import SpecError
from schedkit.conversion import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_TEXT,
    MAX_VALUES,
    bounded,
)

#: the operations nested in one expression (``a + b + c`` nests two)
MAX_EXPRESSION_DEPTH = 100
#: the width and the precision of a ``%`` format (``'%8.3f'``)
MAX_FORMAT_WIDTH = 1_000

_BINARY: dict[type[ast.operator], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Any] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_INT_LIMIT = 10**MAX_INT_DIGITS
#: the bits of the largest integer allowed
_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
#: one ``%`` conversion: mapping key, flags, width, precision, length modifier
_FORMAT = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?")
_READ = (
    "the config is read without running it "
    "(literals, dict(...), arithmetic and names bound earlier in the file only)"
)


class Value(NamedTuple):
    """A value evaluated, with what the bounds need: the values it holds (itself, and
    each item of a list, each key and item of a dict, counted as
    :func:`schedkit.conversion.bounded` counts them) and how deeply it nests."""

    value: Any
    size: int = 1
    depth: int = 0


def _is_int(x: Any) -> bool:
    return isinstance(x, int)


class Evaluator:
    """Evaluates the plain-data part of one config file's syntax tree, within the bounds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: dict[str, Value] = {}
        #: the name being bound (the key errors name)
        self.key = ""

    def fail(self, node: ast.AST, what: str, *, read: bool = True) -> SpecError:
        line = getattr(node, "lineno", 0)
        tail = f"; {_READ}" if read else ""
        return SpecError(f"{self.path.name}, line {line}: {what}{tail}", self.key)

    def _checked(self, node: ast.AST, v: Value) -> Value:
        """``v``, or an error when it exceeds a bound."""
        x = v.value
        if isinstance(x, bool) or x is None or isinstance(x, float):
            pass
        elif isinstance(x, int):
            if abs(x) >= _INT_LIMIT:
                raise self.fail(
                    node, f"an integer of more than {MAX_INT_DIGITS:,} digits", read=False
                )
        elif isinstance(x, str):
            if len(x) > MAX_TEXT:
                raise self.fail(node, f"a string of more than {MAX_TEXT:,} characters", read=False)
        elif isinstance(x, (list, tuple, dict)):
            if v.size > MAX_VALUES:
                raise self.fail(node, f"more than {MAX_VALUES:,} values", read=False)
            if v.depth > MAX_DEPTH:
                raise self.fail(node, f"lists and dicts nested deeper than {MAX_DEPTH}", read=False)
        else:
            raise self.fail(node, f"a {type(x).__name__} value is not read")
        return v

    def value(self, node: ast.expr, level: int = 0) -> Value:
        """The value of ``node`` (at ``level`` operations deep in its expression)."""
        if level > MAX_EXPRESSION_DEPTH:
            raise self.fail(
                node,
                f"an expression of more than {MAX_EXPRESSION_DEPTH} nested operations",
                read=False,
            )
        return self._checked(node, self._value(node, level + 1))

    def _items(self, nodes: list[ast.expr], level: int) -> tuple[list[Any], int, int]:
        items = [self.value(e, level) for e in nodes]
        size = 1 + sum(i.size for i in items)
        depth = 1 + max((i.depth for i in items), default=0)
        return [i.value for i in items], size, depth

    def _value(self, node: ast.expr, level: int) -> Value:
        if isinstance(node, ast.Constant):
            return Value(node.value)
        if isinstance(node, ast.List):
            items, size, depth = self._items(node.elts, level)
            return Value(items, size, depth)
        if isinstance(node, ast.Tuple):
            items, size, depth = self._items(node.elts, level)
            return Value(tuple(items), size, depth)
        if isinstance(node, ast.Dict):
            pairs: list[tuple[Value, Value]] = []
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    raise self.fail(v, "** unpacking is not read")
                pairs.append((self._key(k, level), self.value(v, level)))
            return self._dict(pairs)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise self.fail(node, f"name {node.id!r} is not bound earlier in the file")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._binary(node, self.value(node.left, level), self.value(node.right, level))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            operand = self.value(node.operand, level)
            try:
                return Value(_UNARY[type(node.op)](operand.value))
            except TypeError as e:
                raise self.fail(node, f"cannot compute the expression ({e})") from None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict" and not node.args:
                kws: list[tuple[Value, Value]] = []
                for kw in node.keywords:
                    if kw.arg is None:
                        raise self.fail(kw.value, "** unpacking is not read")
                    kws.append((Value(kw.arg), self.value(kw.value, level)))
                return self._dict(kws)
            raise self.fail(node, f"a call of {node.func.id!r} is not read")
        if isinstance(node, ast.Call):
            raise self.fail(node, "a call is not read")
        if isinstance(node, ast.Attribute):
            raise self.fail(node, "attribute access is not read")
        kind = type(node).__name__
        raise self.fail(node, f"a {kind} expression is not read")

    def _key(self, node: ast.expr, level: int) -> Value:
        key = self.value(node, level)
        if isinstance(key.value, (list, dict)) or (
            isinstance(key.value, tuple) and not _hashable(key.value)
        ):
            raise self.fail(
                node,
                f"a dict key is a string, a number or a tuple of them, not a "
                f"{type(key.value).__name__}",
                read=False,
            )
        return key

    @staticmethod
    def _dict(pairs: list[tuple[Value, Value]]) -> Value:
        out = {k.value: v.value for k, v in pairs}
        size = 1 + sum(k.size + v.size for k, v in pairs)
        depth = 1 + max((max(k.depth, v.depth) for k, v in pairs), default=0)
        return Value(out, size, depth)

    def _binary(self, node: ast.BinOp, a: Value, b: Value) -> Value:
        x, y = a.value, b.value
        op = type(node.op)
        size, depth = 1, 0
        if op is ast.Pow and _is_int(x) and _is_int(y) and y > 0 and abs(x) > 1:
            if y * (abs(x).bit_length() - 1) > _INT_BITS:
                raise self.fail(
                    node,
                    f"cannot compute the expression (an integer of more than "
                    f"{MAX_INT_DIGITS:,} digits)",
                    read=False,
                )
        elif op is ast.Mult and (_is_int(x) or _is_int(y)):
            seq, n = (y, x) if _is_int(x) else (x, y)
            seq_v = b if _is_int(x) else a
            n = max(int(n), 0)
            if isinstance(seq, str) and len(seq) * n > MAX_TEXT:
                raise self.fail(node, f"a string of more than {MAX_TEXT:,} characters", read=False)
            if isinstance(seq, (list, tuple)):
                size = 1 + (seq_v.size - 1) * n
                depth = seq_v.depth
                if size > MAX_VALUES:
                    raise self.fail(node, f"more than {MAX_VALUES:,} values", read=False)
        elif op is ast.Add and isinstance(x, (list, tuple)):
            size, depth = a.size + b.size - 1, max(a.depth, b.depth)
        elif op is ast.Mod and isinstance(x, str):
            self._format(node, x)
        try:
            result = _BINARY[op](x, y)
        except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError) as e:
            raise self.fail(node, f"cannot compute the expression ({e})", read=False) from None
        if isinstance(result, complex):
            raise self.fail(
                node, "cannot compute the expression (the result is not a real number)", read=False
            )
        return Value(result, size, depth)

    def _format(self, node: ast.AST, text: str) -> None:
        """Refuse ``%`` formats whose width or precision is read from the arguments or
        exceeds :data:`MAX_FORMAT_WIDTH` (``'%1000000000d' % 1`` would fill the memory)."""
        for m in _FORMAT.finditer(text):
            for field in m.groups():
                if field == "*" or (field and (len(field) > 6 or int(field) > MAX_FORMAT_WIDTH)):
                    raise self.fail(
                        node,
                        f"cannot compute the expression (a % format width or precision "
                        f"above {MAX_FORMAT_WIDTH:,}, or given by '*': {m.group()!r})",
                        read=False,
                    )

    def module(self, text: str) -> dict[str, Any]:
        """The names the file binds (except ``__dunder__`` ones) and their values."""
        try:
            tree = ast.parse(text, filename=str(self.path))
        except SyntaxError as e:
            what = f"syntax error: {e.msg}"
            if e.msg.startswith("Exceeds the limit"):  # Python's own limit on int literals
                what = f"an integer of more than {MAX_INT_DIGITS:,} digits"
            raise SpecError(
                f"{self.path.name}, line {e.lineno}: {what}",
                _bound_at(text, e.lineno or 0),
            ) from None
        except (RecursionError, MemoryError, ValueError):  # the parser's own limits
            line = _too_complex(text)
            raise SpecError(
                f"{self.path.name}, line {line}: cannot parse the expression: more operations "
                "nested or chained than Python's parser takes",
                _bound_at(text, line),
            ) from None
        for stmt in tree.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring or a bare string
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                self.key = stmt.targets[0].id
                self.names[self.key] = self.value(stmt.value)
                self.key = ""
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                raise self.fail(stmt, "an import is not read")
            raise self.fail(stmt, f"a {type(stmt).__name__} statement is not read")
        out = {k: v.value for k, v in self.names.items() if not k.startswith("__")}
        return bounded(out, self.path.name)  # type: ignore[no-any-return]


_STATEMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=[^=]", re.MULTILINE)


def _too_complex(text: str) -> int:
    """The line of the first assignment in ``text`` that Python's parser cannot take on
    its own (called only when the whole file could not be parsed; assignments are found
    as lines starting ``name =``, so the file is parsed about once more)."""
    starts = [m.start() for m in _STATEMENT.finditer(text)]
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        try:
            ast.parse(text[begin:end])
        except (RecursionError, MemoryError, ValueError):
            return text.count("\n", 0, begin) + 1
        except SyntaxError:
            pass
    return 1


def _bound_at(text: str, line: int) -> str:
    """The name a statement starting at ``line`` binds (``lr`` of ``lr = ...``), or ``""``."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]", lines[line - 1])
    return m.group(1) if m else ""


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
