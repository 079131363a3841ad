"""awork's ``filterby`` / ``orderby`` language (an OData-v2-like subset), parsed and compiled.

Supported: ``eq ne gt ge lt le``, ``and or not``, parentheses; literals ``null``, ``true``/``false``,
numbers (with the ``L M f d`` suffixes), ``'strings'`` (``''`` escapes a quote),
``datetime'…'`` and ``guid'…'``; property paths with ``/`` (``project/name``); the functions
``substringof``, ``startswith``, ``endswith``, ``tolower``, ``toupper``, ``length``; ``me.id``.
Property names match case-insensitively. Anything else (``in``, ``any``/``count``, date keywords)
is refused as an invalid expression, like an unparsable one.

The module does not know awork's resources: callers pass a ``Schema`` (property name -> type),
so it can serve any OData-like sandbox. ``compile_filter`` returns a predicate over plain dicts,
``compile_order`` a list of sort keys; both raise ``FilterError`` with a readable message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandboxes.awork.clock import parse_dt

# Property types a schema can declare; "any" is used for what is not declared (nested paths).
FieldType = str  # "guid" | "datetime" | "string" | "bool" | "int" | "number" | "object" | "array"
Schema = Mapping[str, FieldType]
Record = Mapping[str, Any]


class FilterError(ValueError):
    """An expression that cannot be parsed or does not fit the resource."""


# -- tokens ----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?i:datetimeoffset|datetime|guid))'(?P<typed_body>(?:[^']|'')*)'
  | (?P<string>'(?:[^']|'')*')
  | (?P<hex>0x[0-9a-fA-F]+)
  | (?P<number>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[LlMmFfDd]?(?![\w.]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:[/.][A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith", "tolower", "toupper", "length"}


@dataclass(frozen=True)
class Token:
    kind: str  # typed | string | number | name | punct | end
    text: str
    value: Any = None
    pos: int = 0


def tokenize(text: str) -> list[Token]:
    """The tokens of a filter expression (whitespace dropped), ending with an ``end`` token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        raw = match.group(0)
        if kind == "typed_body":  # lastgroup is the inner group for typed literals
            kind = "typed"
        if kind == "ws":
            pass
        elif kind == "typed":
            prefix = match.group("typed").lower()
            body = match.group("typed_body").replace("''", "'")
            tokens.append(Token("typed", raw, (prefix, body), pos))
        elif kind == "string":
            tokens.append(Token("string", raw, raw[1:-1].replace("''", "'"), pos))
        elif kind == "hex":
            tokens.append(Token("number", raw, int(raw, 16), pos))
        elif kind == "number":
            tokens.append(Token("number", raw, _number(raw), pos))
        else:
            tokens.append(Token(kind, raw, raw, pos))
        pos = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


def _number(raw: str) -> int | float:
    body = raw.rstrip("LlMmFfDd")
    if re.fullmatch(r"[-+]?\d+", body) and raw[-1:] not in ("M", "m", "F", "f", "D", "d"):
        return int(body)
    return float(body)


# -- syntax tree -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    kind: str  # null | bool | int | number | string | datetime | guid
    value: Any


@dataclass(frozen=True)
class Path:
    segments: tuple[str, ...]


@dataclass(frozen=True)
class MeId:
    pass


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Logical:
    op: str  # and | or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    operand: Any


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _keyword(self, *words: str) -> str | None:
        tok = self.tok
        if tok.kind == "name" and tok.text.lower() in words:
            self.i += 1
            return tok.text.lower()
        return None

    def _expect(self, text: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != text:
            raise FilterError(f"expected {text!r} at position {self.tok.pos}, found {self.tok.text!r}")
        self.i += 1

    def parse(self) -> Any:
        if self.tok.kind == "end":
            raise FilterError("the expression is empty")
        node = self.parse_or()
        if self.tok.kind != "end":
            raise FilterError(f"unexpected {self.tok.text!r} at position {self.tok.pos}")
        return node

    def parse_or(self) -> Any:
        node = self.parse_and()
        while self._keyword("or"):
            node = Logical("or", node, self.parse_and())
        return node

    def parse_and(self) -> Any:
        node = self.parse_not()
        while self._keyword("and"):
            node = Logical("and", node, self.parse_not())
        return node

    def parse_not(self) -> Any:
        if self._keyword("not"):
            return Not(self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Any:
        left = self.parse_primary()
        op = self._keyword(*_COMPARISONS)
        if op is None:
            if self.tok.kind == "name" and self.tok.text.lower() in ("in", "has", "add", "sub"):
                raise FilterError(f"the operator {self.tok.text!r} is not supported")
            return left
        return Compare(op, left, self.parse_primary())

    def parse_primary(self) -> Any:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.i += 1
            node = self.parse_or()
            self._expect(")")
            return node
        if tok.kind == "string":
            self.i += 1
            return Literal("string", tok.value)
        if tok.kind == "number":
            self.i += 1
            return Literal("int" if isinstance(tok.value, int) else "number", tok.value)
        if tok.kind == "typed":
            self.i += 1
            return _typed_literal(*tok.value)
        if tok.kind == "name":
            word = tok.text.lower()
            nxt = self.tokens[self.i + 1]
            if nxt.kind == "punct" and nxt.text == "(":
                if word not in _FUNCTIONS:
                    raise FilterError(f"the function {tok.text!r} is not supported")
                self.i += 2
                args: list[Any] = []
                if not (self.tok.kind == "punct" and self.tok.text == ")"):
                    args.append(self.parse_or())
                    while self.tok.kind == "punct" and self.tok.text == ",":
                        self.i += 1
                        args.append(self.parse_or())
                self._expect(")")
                return Call(word, tuple(args))
            self.i += 1
            if word == "null":
                return Literal("null", None)
            if word in ("true", "false"):
                return Literal("bool", word == "true")
            if word == "me.id":
                return MeId()
            if "." in tok.text:
                raise FilterError(f"{tok.text!r} is not a property or a supported keyword")
            if word in _COMPARISONS or word in ("and", "or", "not"):
                raise FilterError(f"unexpected operator {tok.text!r} at position {tok.pos}")
            return Path(tuple(tok.text.split("/")))
        raise FilterError(f"unexpected {tok.text or 'end of expression'!r} at position {tok.pos}")


def _typed_literal(prefix: str, body: str) -> Literal:
    if prefix == "guid":
        if not re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", body):
            raise FilterError(f"guid'{body}' is not a GUID")
        return Literal("guid", body.lower())
    dt = parse_dt(body)
    if dt is None:
        raise FilterError(f"{prefix}'{body}' is not a date-time")
    return Literal("datetime", dt)


def parse_filter(text: str) -> Any:
    """The syntax tree of a ``filterby`` expression."""
    return _Parser(text).parse()


# -- compilation -----------------------------------------------------------------------------
@dataclass
class CompiledFilter:
    """A predicate over records plus the top-level properties it reads."""

    predicate: Callable[[Record], bool]
    fields: set[str] = field(default_factory=set)


def _canonical(schema: Schema, name: str) -> str:
    for key in schema:
        if key.lower() == name.lower():
            return key
    raise FilterError(f"the property {name!r} does not exist on this resource")


def _getter(segments: Sequence[str]) -> Callable[[Record], Any]:
    """A function reading a (case-insensitive) nested path; None on any missing step."""
    first, rest = segments[0], list(segments[1:])
    if not rest:
        return lambda rec: rec.get(first)
    cache: dict[tuple[int, str], str] = {}

    def get(rec: Record) -> Any:
        value: Any = rec.get(first)
        for depth, seg in enumerate(rest):
            if not isinstance(value, Mapping):
                return None
            key = cache.get((depth, seg))
            if key is None or key not in value:
                key = next((k for k in value if k.lower() == seg.lower()), seg)
                cache[(depth, seg)] = key
            value = value.get(key)
        return value

    return get


@dataclass
class _Operand:
    fn: Callable[[Record], Any]
    kind: str  # a FieldType, a literal kind, or "any"
    is_literal: bool = False


class _Compiler:
    def __init__(self, schema: Schema, *, me_id: str | None, case_insensitive: bool, strict: bool):
        self.schema = schema
        self.me_id = me_id
        self.ci = case_insensitive
        self.strict = strict
        self.fields: set[str] = set()

    def predicate(self, node: Any) -> Callable[[Record], bool]:
        if isinstance(node, Logical):
            left, right = self.predicate(node.left), self.predicate(node.right)
            if node.op == "and":
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        if isinstance(node, Not):
            inner = self.predicate(node.operand)
            return lambda r: not inner(r)
        if isinstance(node, Compare):
            return self.compare(node)
        operand = self.operand(node)
        if operand.kind not in ("bool", "any"):
            raise FilterError("this expression is not a condition (true/false)")
        fn = operand.fn
        return lambda r: fn(r) is True

    def operand(self, node: Any) -> _Operand:
        if isinstance(node, Literal):
            value = node.value
            return _Operand(lambda r: value, node.kind, True)
        if isinstance(node, MeId):
            me = self.me_id
            return _Operand(lambda r: me, "guid", True)
        if isinstance(node, Path):
            name = _canonical(self.schema, node.segments[0])
            self.fields.add(name)
            segments = (name, *node.segments[1:])
            kind = self.schema[name] if len(segments) == 1 else "any"
            if kind in ("object", "array") and len(segments) == 1:
                raise FilterError(f"the property {name!r} is not a simple value")
            return _Operand(_getter(segments), kind)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, (Compare, Logical, Not)):
            return _Operand(self.predicate(node), "bool")
        raise FilterError("unsupported expression")

    def call(self, node: Call) -> _Operand:
        args = [self.operand(a) for a in node.args]
        name = node.name
        ci = self.ci

        def text(value: Any) -> str | None:
            if value is None:
                return None
            s = str(value)
            return s.lower() if ci else s

        if name in ("substringof", "startswith", "endswith"):
            if len(args) != 2:
                raise FilterError(f"{name} takes two arguments")
            a, b = args[0].fn, args[1].fn
            if name == "substringof":  # substringof('needle', property)
                return _Operand(lambda r: _contains(text(b(r)), text(a(r))), "bool")
            if name == "startswith":
                return _Operand(lambda r: _starts(text(a(r)), text(b(r))), "bool")
            return _Operand(lambda r: _ends(text(a(r)), text(b(r))), "bool")
        if len(args) != 1:
            raise FilterError(f"{name} takes one argument")
        a = args[0].fn
        if name == "tolower":
            return _Operand(lambda r: v.lower() if isinstance(v := a(r), str) else v, "string")
        if name == "toupper":
            return _Operand(lambda r: v.upper() if isinstance(v := a(r), str) else v, "string")
        return _Operand(lambda r: len(v) if isinstance(v := a(r), str) else None, "int")

    def compare(self, node: Compare) -> Callable[[Record], bool]:
        left, right = self.operand(node.left), self.operand(node.right)
        self._check_types(left, right)
        self._check_types(right, left)
        kinds = {left.kind, right.kind}
        if "datetime" in kinds:
            conv: Callable[[Any], Any] = _as_datetime
        elif "guid" in kinds:
            conv = _as_lower
        elif kinds & {"string"} and self.ci:
            conv = _as_lower
        else:
            conv = _identity
        op = _OPS[node.op]
        lf, rf = left.fn, right.fn
        op_name = node.op

        def predicate(rec: Record) -> bool:
            a, b = conv(lf(rec)), conv(rf(rec))
            if a is None or b is None:
                # SQL-ish null semantics: only eq/ne can be true when a side is null.
                if op_name == "eq":
                    return a is None and b is None
                if op_name == "ne":
                    return (a is None) != (b is None)
                return False
            try:
                return bool(op(a, b))
            except TypeError:
                return op_name == "ne"

        return predicate

    def _check_types(self, prop: _Operand, lit: _Operand) -> None:
        """Refuse a declared GUID/date/bool/number property compared with a wrong literal."""
        if not self.strict or prop.is_literal or not lit.is_literal or lit.kind == "null":
            return
        want, got = prop.kind, lit.kind
        ok = {
            "guid": {"guid"},
            "datetime": {"datetime"},
            "bool": {"bool"},
            "int": {"int", "number"},
            "number": {"int", "number"},
            "string": {"string"},
        }.get(want)
        if ok is not None and got not in ok:
            raise FilterError(f"a {want} property cannot be compared with a {got} literal")


def _identity(value: Any) -> Any:
    return value


def _as_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_dt(value)


def _contains(hay: str | None, needle: str | None) -> bool:
    return hay is not None and needle is not None and needle in hay


def _starts(hay: str | None, prefix: str | None) -> bool:
    return hay is not None and prefix is not None and hay.startswith(prefix)


def _ends(hay: str | None, suffix: str | None) -> bool:
    return hay is not None and suffix is not None and hay.endswith(suffix)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def compile_filter(
    text: str,
    schema: Schema,
    *,
    me_id: str | None = None,
    case_insensitive: bool = True,
    strict_types: bool = True,
) -> CompiledFilter:
    """A predicate for ``text`` over records shaped like ``schema``; raises ``FilterError``."""
    compiler = _Compiler(schema, me_id=me_id, case_insensitive=case_insensitive, strict=strict_types)
    predicate = compiler.predicate(parse_filter(text))
    return CompiledFilter(predicate, compiler.fields)


# -- ordering --------------------------------------------------------------------------------
_ORDER_ITEM = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE
)


@dataclass
class OrderKey:
    getter: Callable[[Record], Any]
    descending: bool
    kind: str
    field: str


def compile_order(text: str, schema: Schema) -> list[OrderKey]:
    """Sort keys for ``orderby`` (``Name``, ``name desc``, ``a/b asc,c``); raises ``FilterError``."""
    keys: list[OrderKey] = []
    for item in text.split(","):
        match = _ORDER_ITEM.match(item)
        if not match:
            raise FilterError(f"cannot order by {item.strip()!r}")
        segments = match.group(1).split("/")
        name = _canonical(schema, segments[0])
        kind = schema[name] if len(segments) == 1 else "any"
        if kind in ("object", "array") and len(segments) == 1:
            raise FilterError(f"cannot order by the property {name!r}")
        descending = (match.group(2) or "asc").lower() == "desc"
        keys.append(OrderKey(_getter((name, *segments[1:])), descending, kind, name))
    return keys


def sort_records(records: list[Any], keys: Sequence[OrderKey], *, case_insensitive: bool = True) -> None:
    """Sort ``records`` in place by ``keys``; nulls sort first ascending (SQL Server behaviour)."""
    for key in reversed(keys):  # stable sorts, least significant key first
        getter, kind = key.getter, key.kind

        def sort_key(rec: Any, getter: Callable[[Record], Any] = getter, kind: str = kind) -> Any:
            value = getter(rec)
            if value is None:
                return (0, 0)
            if kind == "datetime":
                parsed = parse_dt(value)
                return (1, parsed) if parsed is not None else (0, 0)
            if isinstance(value, str) and case_insensitive:
                return (1, value.lower())
            if isinstance(value, bool):
                return (1, int(value))
            if isinstance(value, (dict, list)):
                return (1, str(value))
            return (1, value)

        try:
            records.sort(key=sort_key, reverse=key.descending)
        except TypeError:  # mixed types in a nested path: fall back to text order
            records.sort(key=lambda r, g=getter: str(g(r)), reverse=key.descending)
