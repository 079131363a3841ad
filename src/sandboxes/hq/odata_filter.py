"""An OData 4 ``$filter`` parser and compiler (the subset HQ's clients use).

Supported: ``eq ne gt ge lt le``, ``and or not``, ``in (...)``, parentheses; literals (strings with
``''`` escapes, numbers, ``true/false/null``, bare dates and date-times such as ``2018-01-26`` and
``2018-01-26T18:15:00+01:00``, typed literals such as ``datetime'2021-01-01T12:00:00Z'`` or
``HQ.AbsenceType'Vacation'``); property paths through single navigations (``Task/TaskTypeId``);
lambdas ``any``/``all`` over collection navigations (``CustomFields/any(c: c/Name eq 'X')``); the
functions ``contains startswith endswith tolower toupper trim length indexof substring concat
year month day hour minute second date``.

The expression is compiled once into Python closures, so filtering tens of thousands of records
costs one closure call per record. Any problem is a 400 whose message names it.

Nothing here is HQ-specific except the entity model it resolves names against; other OData-style
sandboxes could reuse it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandboxes.hq.errors import HQError
from sandboxes.hq.model import BOOL, DATE, DATETIME, FLOAT, INT, STR, EntityType, View, entity
from sandboxes.hq.timeutil import comparable, parse_datetime

# Value categories used for type checking comparisons.
T_STR, T_NUM, T_BOOL, T_DT, T_NULL, T_ANY = (
    "Edm.String",
    "Edm.Decimal",
    "Edm.Boolean",
    "Edm.DateTimeOffset",
    "null",
    "any",
)
_PROP_CATEGORY = {STR: T_STR, INT: T_NUM, FLOAT: T_NUM, BOOL: T_BOOL, DATETIME: T_DT, DATE: T_DT}

Env = dict[str, Any]
Getter = Callable[[dict[str, Any], Env], Any]


class FilterError(HQError):
    """A 400 for an invalid query option."""

    def __init__(self, message: str) -> None:
        super().__init__(400, f"The query specified in the URI is not valid. {message}", "BadRequest")


# -- tokens ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # ( ) , : / STR NUM DT DATE IDENT TYPED EOF
    value: Any
    pos: int
    text: str = ""


_DT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+\- ]\d{2}:\d{2})?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_.]*")


def tokenize(text: str) -> list[Token]:
    """Splits a ``$filter`` expression into tokens; raises FilterError on bad input."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(),:/":
            tokens.append(Token(ch, ch, i, ch))
            i += 1
            continue
        if ch == "'":
            value, end = _read_string(text, i)
            tokens.append(Token("STR", value, i, text[i:end]))
            i = end
            continue
        m = _DT_RE.match(text, i)
        if m:
            raw = m.group(0)
            # An unencoded '+' in a query string arrives as a space: read it as '+'.
            if len(raw) > 6 and raw[-6] == " ":
                raw = raw[:-6] + "+" + raw[-5:]
            tokens.append(Token("DT", raw, i, m.group(0)))
            i = m.end()
            continue
        m = _DATE_RE.match(text, i)
        if m and not (m.end() < n and (text[m.end()].isalnum())):
            tokens.append(Token("DATE", m.group(0), i, m.group(0)))
            i = m.end()
            continue
        m = _NUM_RE.match(text, i)
        if m:
            raw = m.group(0)
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("NUM", value, i, raw))
            i = m.end()
            continue
        m = _IDENT_RE.match(text, i)
        if m:
            name = m.group(0)
            end = m.end()
            if end < n and text[end] == "'":
                value, end2 = _read_string(text, end)
                tokens.append(Token("TYPED", (name, value), i, text[i:end2]))
                i = end2
                continue
            tokens.append(Token("IDENT", name, i, name))
            i = end
            continue
        raise FilterError(f"Syntax error at position {i} in '{text}': unexpected character '{ch}'.")
    tokens.append(Token("EOF", None, n, ""))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Reads a quoted string at ``start``; returns its value and the index after the quote."""
    i = start + 1
    out: list[str] = []
    while i < len(text):
        if text[i] == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise FilterError(f"Syntax error at position {start} in '{text}': unterminated string literal.")


# -- syntax tree -----------------------------------------------------------------------------------
@dataclass
class Lit:
    value: Any
    type: str


@dataclass
class Path:
    segments: list[str]
    pos: int
    lambda_: Lambda | None = None


@dataclass
class Lambda:
    kind: str  # any | all
    var: str | None
    body: Any


@dataclass
class Call:
    name: str
    args: list[Any]
    pos: int


@dataclass
class BinOp:
    op: str
    left: Any
    right: Any
    pos: int


@dataclass
class Not:
    operand: Any


@dataclass
class In:
    operand: Any
    values: list[Lit]


COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
UNSUPPORTED_OPERATORS = ("add", "sub", "mul", "div", "mod", "has")
FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min args, max args)
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "trim": (1, 1),
    "length": (1, 1),
    "indexof": (2, 2),
    "substring": (2, 3),
    "concat": (2, 2),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "hour": (1, 1),
    "minute": (1, 1),
    "second": (1, 1),
    "date": (1, 1),
}


class Parser:
    """Recursive-descent parser for ``$filter`` (and the paths of ``$orderby``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def error(self, message: str, tok: Token | None = None) -> FilterError:
        tok = tok or self.peek()
        return FilterError(f"Syntax error at position {tok.pos} in '{self.text}': {message}.")

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            found = "the end of the expression" if tok.kind == "EOF" else f"'{tok.text}'"
            raise self.error(f"expected {what} but found {found}")
        return self.next()

    def is_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "IDENT" and tok.value == word

    # grammar
    def parse(self) -> Any:
        if self.peek().kind == "EOF":
            raise self.error("the filter expression is empty")
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "EOF":
            if tok.kind == "IDENT" and tok.value in UNSUPPORTED_OPERATORS:
                raise self.error(f"the operator '{tok.value}' is not supported")
            raise self.error(f"unexpected '{tok.text}' (missing 'and'/'or' or an operator?)")
        return node

    def parse_or(self) -> Any:
        node = self.parse_and()
        while self.is_word("or"):
            tok = self.next()
            node = BinOp("or", node, self.parse_and(), tok.pos)
        return node

    def parse_and(self) -> Any:
        node = self.parse_unary()
        while self.is_word("and"):
            tok = self.next()
            node = BinOp("and", node, self.parse_unary(), tok.pos)
        return node

    def parse_unary(self) -> Any:
        if self.is_word("not") and self.peek(1).kind != "/":
            self.next()
            return Not(self.parse_unary())
        return self.parse_comparison()

    def parse_comparison(self) -> Any:
        left = self.parse_value()
        tok = self.peek()
        if tok.kind == "IDENT" and tok.value in COMPARISONS:
            self.next()
            if self.peek().kind in ("EOF", ")", ","):
                raise self.error(f"expected an expression after '{tok.value}'")
            right = self.parse_value()
            return BinOp(tok.value, left, right, tok.pos)
        if tok.kind == "IDENT" and tok.value == "in":
            self.next()
            self.expect("(", "'(' after 'in'")
            values = [self.parse_literal_only()]
            while self.peek().kind == ",":
                self.next()
                values.append(self.parse_literal_only())
            self.expect(")", "')' to close the 'in' list")
            return In(left, values)
        if tok.kind == "IDENT" and tok.value in UNSUPPORTED_OPERATORS:
            raise self.error(f"the operator '{tok.value}' is not supported")
        return left

    def parse_literal_only(self) -> Lit:
        node = self.parse_value()
        if not isinstance(node, Lit):
            raise self.error("only literals are allowed in an 'in' list")
        return node

    def parse_value(self) -> Any:
        tok = self.peek()
        if tok.kind == "(":
            self.next()
            node = self.parse_or()
            self.expect(")", "')'")
            return node
        if tok.kind == "STR":
            self.next()
            return Lit(tok.value, T_STR)
        if tok.kind == "NUM":
            self.next()
            return Lit(tok.value, T_NUM)
        if tok.kind in ("DT", "DATE"):
            self.next()
            return Lit(_parse_dt_literal(tok.value, self, tok), T_DT)
        if tok.kind == "TYPED":
            self.next()
            prefix, raw = tok.value
            if prefix.lower() in ("datetime", "datetimeoffset", "date"):
                return Lit(_parse_dt_literal(raw, self, tok), T_DT)
            return Lit(raw, T_STR)  # enum literal such as HQ.AbsenceType'Vacation'
        if tok.kind == "IDENT":
            if tok.value in ("true", "false"):
                self.next()
                return Lit(tok.value == "true", T_BOOL)
            if tok.value == "null":
                self.next()
                return Lit(None, T_NULL)
            if self.peek(1).kind == "(" and tok.value.lower() in FUNCTIONS:
                return self.parse_call()
            if self.peek(1).kind == "(":
                raise self.error(f"unknown function '{tok.value}'", tok)
            if tok.value in COMPARISONS + ("and", "or"):
                raise self.error(f"expected an expression before '{tok.value}'", tok)
            return self.parse_path()
        if tok.kind == "EOF":
            raise self.error("unexpected end of the expression")
        raise self.error(f"unexpected '{tok.text}'")

    def parse_call(self) -> Call:
        tok = self.next()
        name = tok.value.lower()
        self.expect("(", "'('")
        args: list[Any] = []
        if self.peek().kind != ")":
            args.append(self.parse_or())
            while self.peek().kind == ",":
                self.next()
                args.append(self.parse_or())
        self.expect(")", f"')' to close {name}()")
        low, high = FUNCTIONS[name]
        if not low <= len(args) <= high:
            raise FilterError(
                f"The function '{name}' takes {low if low == high else f'{low} to {high}'} arguments, not {len(args)}."
            )
        return Call(name, args, tok.pos)

    def parse_path(self) -> Path:
        first = self.expect("IDENT", "a property name")
        path = Path([first.value], first.pos)
        while self.peek().kind == "/":
            self.next()
            tok = self.expect("IDENT", "a property name after '/'")
            if tok.value in ("any", "all") and self.peek().kind == "(":
                self.next()
                if self.peek().kind == ")":
                    if tok.value == "all":
                        raise self.error("all() needs a lambda expression")
                    self.next()
                    path.lambda_ = Lambda("any", None, None)
                    return path
                var = self.expect("IDENT", "a lambda variable").value
                self.expect(":", "':' after the lambda variable")
                body = self.parse_or()
                self.expect(")", f"')' to close {tok.value}(...)")
                path.lambda_ = Lambda(tok.value, var, body)
                return path
            path.segments.append(tok.value)
        return path


def _parse_dt_literal(raw: str, parser: Parser, tok: Token) -> datetime:
    try:
        value = parse_datetime(raw)
    except ValueError as exc:
        raise parser.error(f"invalid date/time literal '{raw}'", tok) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- compilation -----------------------------------------------------------------------------------
@dataclass
class Scope:
    """Name resolution for one compilation: the entity type and lambda variables in scope."""

    root: EntityType
    view_box: list[View | None]
    case_insensitive: bool
    requires_expand: bool
    expanded: frozenset[str]
    variables: dict[str, EntityType] = field(default_factory=dict)

    @property
    def view(self) -> View:
        view = self.view_box[0]
        assert view is not None, "bind a view before evaluating"
        return view


@dataclass
class Compiled:
    fn: Getter
    type: str
    collection: EntityType | None = None  # set for a collection navigation (only in lambdas)


def compile_filter(
    text: str,
    etype: EntityType,
    *,
    case_insensitive: bool = False,
    requires_expand: bool = False,
    expanded: frozenset[str] = frozenset(),
) -> CompiledFilter:
    """Parses and compiles ``$filter`` for records of ``etype``; raises FilterError (400)."""
    tree = Parser(text).parse()
    scope = Scope(etype, [None], case_insensitive, requires_expand, expanded)
    compiled = _compile(tree, scope)
    if compiled.type not in (T_BOOL, T_ANY, T_NULL):
        raise FilterError(f"The $filter expression must be a Boolean expression, not {compiled.type}.")
    return CompiledFilter(compiled.fn, scope.view_box)


@dataclass
class CompiledFilter:
    """A compiled ``$filter``: ``bind(view)`` then call with a record."""

    fn: Getter
    view_box: list[View | None]

    def bind(self, view: View) -> Callable[[dict[str, Any]], bool]:
        """Returns a predicate over records, resolving navigations through ``view``."""
        self.view_box[0] = view
        fn = self.fn
        return lambda rec: bool(fn(rec, {}))


def compile_path(text: str, etype: EntityType, view_box: list[View | None], case_insensitive: bool) -> Compiled:
    """Compiles a property path (``$orderby``); returns a getter and its type."""
    parser = Parser(text)
    node = parser.parse_value()
    if parser.peek().kind != "EOF" or not isinstance(node, Path) or node.lambda_ is not None:
        raise FilterError(f"'{text}' is not a property path.")
    scope = Scope(etype, view_box, case_insensitive, False, frozenset())
    return _compile_path(node, scope)


def _compile(node: Any, scope: Scope) -> Compiled:
    if isinstance(node, Lit):
        value = node.value
        return Compiled(lambda rec, env: value, node.type)
    if isinstance(node, Path):
        return _compile_path(node, scope)
    if isinstance(node, Not):
        inner = _check_bool(_compile(node.operand, scope), "not")
        fn = inner.fn
        return Compiled(lambda rec, env: not fn(rec, env), T_BOOL)
    if isinstance(node, In):
        operand = _compile(node.operand, scope)
        values = [_coerce_literal(v, operand.type) for v in node.values]
        norm = _normalizer(operand.type, scope.case_insensitive)
        allowed = {norm(v) for v in values}
        get = operand.fn
        return Compiled(lambda rec, env: norm(get(rec, env)) in allowed, T_BOOL)
    if isinstance(node, BinOp):
        if node.op in ("and", "or"):
            left = _check_bool(_compile(node.left, scope), node.op)
            right = _check_bool(_compile(node.right, scope), node.op)
            lf, rf = left.fn, right.fn
            if node.op == "and":
                return Compiled(lambda rec, env: bool(lf(rec, env)) and bool(rf(rec, env)), T_BOOL)
            return Compiled(lambda rec, env: bool(lf(rec, env)) or bool(rf(rec, env)), T_BOOL)
        return _compile_comparison(node, scope)
    if isinstance(node, Call):
        return _compile_call(node, scope)
    raise FilterError(f"Unsupported expression {node!r}.")


def _check_bool(compiled: Compiled, op: str) -> Compiled:
    if compiled.type not in (T_BOOL, T_ANY, T_NULL):
        raise FilterError(f"The operand of '{op}' must be a Boolean expression, not {compiled.type}.")
    return compiled


def _compile_path(node: Path, scope: Scope) -> Compiled:
    segments = list(node.segments)
    first = segments[0]
    if first in scope.variables:
        current = scope.variables[first]
        var = first
        getter: Getter = lambda rec, env: env.get(var)  # noqa: E731
        segments = segments[1:]
        from_root = False
    elif first == "$it":
        current, getter, segments, from_root = scope.root, (lambda rec, env: rec), segments[1:], True
    else:
        current, getter, from_root = scope.root, (lambda rec, env: rec), True
    if not segments:
        if node.lambda_ is not None:
            raise FilterError(f"'{first}' is not a collection.")
        return Compiled(getter, T_ANY)
    for index, name in enumerate(segments):
        last = index == len(segments) - 1
        if name in current.properties:
            if not last:
                raise FilterError(f"'{name}' of type 'HQ.{current.name}' is not a navigation property.")
            if node.lambda_ is not None:
                raise FilterError(f"'{name}' is not a collection; any()/all() need a collection.")
            category = _PROP_CATEGORY.get(current.properties[name], T_STR)
            return Compiled(_prop_getter(getter, name), category)
        nav = current.navs.get(name)
        if nav is None:
            raise FilterError(f"Could not find a property named '{name}' on type 'HQ.{current.name}'.")
        if from_root and index == 0 and scope.requires_expand and name not in scope.expanded:
            raise FilterError(f"The navigation property '{name}' must be expanded ($expand={name}) to filter on it.")
        resolve = nav.resolve
        getter = _nav_getter(getter, resolve, scope)
        current = entity(nav.target)
        if nav.many:
            if not last:
                raise FilterError(f"'{name}' is a collection; use {name}/any(x: ...) to filter on its items.")
            if node.lambda_ is None:
                raise FilterError(f"'{name}' is a collection; use {name}/any(x: ...) to filter on its items.")
            return _compile_lambda(node.lambda_, getter, current, scope)
    if node.lambda_ is not None:
        raise FilterError(f"'{segments[-1]}' is not a collection; any()/all() need a collection.")
    return Compiled(getter, T_ANY)


def _prop_getter(base: Getter, name: str) -> Getter:
    def get(rec: dict[str, Any], env: Env) -> Any:
        obj = base(rec, env)
        return obj.get(name) if obj is not None else None

    return get


def _nav_getter(base: Getter, resolve: Callable[[View, dict[str, Any]], Any], scope: Scope) -> Getter:
    def get(rec: dict[str, Any], env: Env) -> Any:
        obj = base(rec, env)
        return resolve(scope.view, obj) if obj is not None else None

    return get


def _compile_lambda(lam: Lambda, collection: Getter, item_type: EntityType, scope: Scope) -> Compiled:
    if lam.var is None:
        return Compiled(lambda rec, env: bool(collection(rec, env)), T_BOOL)
    inner = Scope(
        scope.root,
        scope.view_box,
        scope.case_insensitive,
        scope.requires_expand,
        scope.expanded,
        {**scope.variables, lam.var: item_type},
    )
    body = _check_bool(_compile(lam.body, inner), lam.kind)
    fn, var = body.fn, lam.var
    if lam.kind == "any":
        return Compiled(
            lambda rec, env: any(fn(rec, {**env, var: item}) for item in (collection(rec, env) or [])),
            T_BOOL,
        )
    return Compiled(
        lambda rec, env: all(fn(rec, {**env, var: item}) for item in (collection(rec, env) or [])),
        T_BOOL,
    )


def _coerce_literal(lit: Lit, target: str) -> Any:
    """Returns a literal's value converted for comparison with a ``target``-typed operand."""
    if lit.type == T_NULL or target in (T_ANY, T_NULL) or lit.type == target:
        return lit.value
    if target == T_DT and lit.type == T_STR:
        raise FilterError(
            f"A binary operator with incompatible types was detected. Found operand types "
            f"'{T_DT}' and '{T_STR}' (write date-times without quotes, e.g. 2025-01-31T00:00:00Z)."
        )
    raise FilterError(
        f"A binary operator with incompatible types was detected. Found operand types '{target}' and '{lit.type}'."
    )


def _normalizer(category: str, case_insensitive: bool) -> Callable[[Any], Any]:
    """Returns how operand values are normalised before comparing (dates parsed, case folded)."""
    if category == T_DT:
        return lambda v: comparable(v) if isinstance(v, str) else v
    if category == T_STR and case_insensitive:
        return lambda v: v.casefold() if isinstance(v, str) else v
    if category == T_NUM:
        return lambda v: v
    return lambda v: v


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


def _compile_comparison(node: BinOp, scope: Scope) -> Compiled:
    left = _compile(node.left, scope)
    right = _compile(node.right, scope)
    lt, rt = left.type, right.type
    if lt == T_BOOL and rt == T_BOOL and node.op not in ("eq", "ne"):
        raise FilterError(f"The operator '{node.op}' cannot compare Boolean values.")
    category = lt if lt not in (T_ANY, T_NULL) else rt
    for side, other in ((node.left, rt), (node.right, lt)):
        if isinstance(side, Lit) and other not in (T_ANY, T_NULL):
            _coerce_literal(side, other)
    if lt not in (T_ANY, T_NULL) and rt not in (T_ANY, T_NULL) and lt != rt:
        raise FilterError(
            "A binary operator with incompatible types was detected."
            f" Found operand types '{lt}' and '{rt}' for operator '{node.op}'."
        )
    if node.op not in ("eq", "ne") and T_NULL in (lt, rt):
        return Compiled(lambda rec, env: False, T_BOOL)
    norm = _normalizer(category, scope.case_insensitive)
    op = _OPS[node.op]
    lf, rf = left.fn, right.fn
    return Compiled(lambda rec, env: op(norm(lf(rec, env)), norm(rf(rec, env))), T_BOOL)


def _compile_call(node: Call, scope: Scope) -> Compiled:
    args = [_compile(a, scope) for a in node.args]
    fns = [a.fn for a in args]
    name = node.name
    ci = scope.case_insensitive

    def need(index: int, *types: str) -> None:
        actual = args[index].type
        if actual not in (*types, T_ANY, T_NULL):
            raise FilterError(f"The argument {index + 1} of '{name}' must be {' or '.join(types)}, not {actual}.")

    if name in ("contains", "startswith", "endswith"):
        need(0, T_STR)
        need(1, T_STR)
        test = {"contains": lambda a, b: b in a, "startswith": str.startswith, "endswith": str.endswith}[name]
        a0, a1 = fns

        def string_test(rec: dict[str, Any], env: Env) -> bool:
            a, b = a0(rec, env), a1(rec, env)
            if not isinstance(a, str) or not isinstance(b, str):
                return False
            if ci:
                a, b = a.casefold(), b.casefold()
            return bool(test(a, b))

        return Compiled(string_test, T_BOOL)
    if name in ("tolower", "toupper", "trim"):
        need(0, T_STR)
        op = {"tolower": str.lower, "toupper": str.upper, "trim": str.strip}[name]
        a0 = fns[0]
        return Compiled(lambda rec, env: _maybe(op, a0(rec, env)), T_STR)
    if name == "length":
        need(0, T_STR)
        a0 = fns[0]
        return Compiled(lambda rec, env: _maybe(len, a0(rec, env)), T_NUM)
    if name == "indexof":
        need(0, T_STR)
        need(1, T_STR)
        a0, a1 = fns

        def indexof(rec: dict[str, Any], env: Env) -> int | None:
            a, b = a0(rec, env), a1(rec, env)
            if not isinstance(a, str) or not isinstance(b, str):
                return None
            return (a.casefold().find(b.casefold())) if ci else a.find(b)

        return Compiled(indexof, T_NUM)
    if name == "substring":
        need(0, T_STR)
        need(1, T_NUM)
        a0, a1 = fns[0], fns[1]
        a2 = fns[2] if len(fns) > 2 else None

        def substring(rec: dict[str, Any], env: Env) -> str | None:
            text, start = a0(rec, env), a1(rec, env)
            if not isinstance(text, str) or start is None:
                return None
            if a2 is None:
                return text[int(start) :]
            length = a2(rec, env)
            return text[int(start) : int(start) + int(length)] if length is not None else None

        return Compiled(substring, T_STR)
    if name == "concat":
        need(0, T_STR)
        need(1, T_STR)
        a0, a1 = fns
        return Compiled(
            lambda rec, env: (
                (a0(rec, env) or "") + (a1(rec, env) or "")
                if a0(rec, env) is not None or a1(rec, env) is not None
                else None
            ),
            T_STR,
        )
    # date parts
    need(0, T_DT)
    a0 = fns[0]
    part = name

    def date_part(rec: dict[str, Any], env: Env) -> Any:
        value = a0(rec, env)
        if isinstance(value, str):
            value = comparable(value)
        if value is None:
            return None
        if part == "date":
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return getattr(value, part)

    return Compiled(date_part, T_DT if part == "date" else T_NUM)


def _maybe(op: Callable[[Any], Any], value: Any) -> Any:
    return op(value) if isinstance(value, str) else None
