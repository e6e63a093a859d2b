"""Declarative detection rules: a small, safe expression language evaluated over a whole batch.

An expression is parsed with Python's ``ast`` and checked against a strict whitelist before it
is ever evaluated; nothing is passed to ``eval``. Allowed:

- comparisons ``== != < <= > >=`` (chains such as ``100 < amount <= 500`` too), ``in`` and
  ``not in`` against a list of constants (``country in ["NG", "RU"]``);
- ``and``, ``or``, ``not`` and parentheses;
- numbers (``10000``, ``1e4``, ``-3``), strings (``'US'``), ``True`` / ``False``;
- names: the live feature list (``scoring.engine.features.FEATURE_NAMES``, plus any extra
  feature names
  a caller passes, e.g. a model's metadata features) and the raw transaction fields in
  :data:`RAW_FIELDS`;
- a bare name as a condition: true when the value is present and non-zero (non-empty for text),
  so ``amount > 10000 and new_country_30d`` works.

A comparison involving a missing value (a feature that could not be computed, an absent field)
is false, so a rule never fires on data it cannot see.

Constants are bounded when a rule is compiled (numbers finite and within ±``MAX_NUMBER``, text at
most ``MAX_TEXT`` characters), so a saved rule cannot overflow at run time. Should a rule still
fail while a batch is evaluated, :func:`rules_apply` skips it for that batch and reports the
error; the other rules and the model's scores are unaffected.

This module imports no Django: it raises its own :class:`RuleError`, which the services map to
the application error.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import features as feature_module

# Raw transaction fields a rule may name, with their type ("number" or "text").
RAW_FIELDS: dict[str, str] = {
    "amount": "number",
    "currency": "text",
    "country": "text",
    "channel": "text",
    "merchant_id": "text",
    "merchant_category": "text",
    "device_id": "text",
    "counterparty_id": "text",
    "account_id": "text",
    "latitude": "number",
    "longitude": "number",
}
MAX_EXPRESSION_LENGTH = 1000
MAX_NODES = 200
# Bounds of the constants in a rule: far beyond any amount or feature value, small enough that
# comparing them with float columns can never overflow.
MAX_NUMBER = 1e15
MAX_TEXT = 200

_COMPARE_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ORDERING = {"<", "<=", ">", ">="}

# Plain-language names of constructs people try, for the "not allowed" message.
_CONSTRUCT_NAMES = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access (`x.y`)",
    ast.Subscript: "indexing (`x[...]`)",
    ast.BinOp: "arithmetic (`+ - * /`)",
    ast.Lambda: "lambda",
    ast.IfExp: "`x if c else y`",
    ast.Dict: "dictionaries",
    ast.List: "a list outside `in [...]`",
    ast.Tuple: "a tuple outside `in [...]`",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.NamedExpr: "assignment (`:=`)",
    ast.JoinedStr: "f-strings",
    ast.Starred: "`*` unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class RuleError(Exception):
    """An expression that cannot be a rule; the message says what is wrong and where."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def allowed_names(extra_features: Iterable[str] = ()) -> dict[str, str]:
    """Names a rule may use right now, with their type. Reads the live feature list."""
    names = {name: "number" for name in feature_module.FEATURE_NAMES}
    names.update({name: "number" for name in extra_features})
    names.update(RAW_FIELDS)
    return names


@dataclass
class CompiledRule:
    """A validated expression, ready to be evaluated over frames."""

    expression: str
    tree: ast.Expression
    names: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array, one per row of ``frame`` (which holds features and raw fields)."""
        result = _Evaluator(frame, self.types).boolean(self.tree.body)
        return np.asarray(result, dtype=bool)


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" (at column {col + 1})" if col is not None else ""


def _source(node: ast.AST, expression: str) -> str:
    text = ast.get_source_segment(expression, node) or ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """Walks the tree once: whitelist, names, and types (number vs text)."""

    def __init__(self, expression: str, names: dict[str, str]):
        self.expression = expression
        self.names = names
        self.used: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> RuleError:
        return RuleError(f"{message}{_where(node)}.")

    def condition(self, node: ast.AST) -> None:
        """``node`` is used as a true/false condition."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self.condition(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.condition(node.operand)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            pass
        elif isinstance(node, ast.Constant | ast.UnaryOp):
            raise self.fail(
                node,
                f"'{_source(node, self.expression)}' is a value, not a condition; compare it "
                "with something (e.g. `amount > 1000`)",
            )
        else:
            raise self.disallowed(node)

    def disallowed(self, node: ast.AST) -> RuleError:
        what = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        return self.fail(
            node,
            f"Not allowed: {what} in '{_source(node, self.expression)}'. Rules may only use "
            "comparisons, and/or/not, numbers, strings and field or feature names",
        )

    def name(self, node: ast.Name) -> str:
        if node.id not in self.names:
            close = difflib.get_close_matches(node.id, list(self.names), n=1, cutoff=0.75)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise self.fail(node, f"Unknown name '{node.id}'{hint}")
        self.used.add(node.id)
        return self.names[node.id]

    def operand(self, node: ast.AST) -> str:
        """Type of a comparison operand: ``number``, ``text`` or ``bool``."""
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return "bool"
            if isinstance(value, int | float):
                self.bounded(node, value)
                return "number"
            if isinstance(value, str):
                if len(value) > MAX_TEXT:
                    raise self.fail(node, f"Text constants are limited to {MAX_TEXT} characters")
                return "text"
            raise self.fail(node, f"Not allowed: the constant {value!r}")
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            self.bounded(node, node.operand.value)
            return "number"
        if isinstance(node, ast.List | ast.Tuple):
            raise self.fail(node, "A list can only follow `in` or `not in`")
        if isinstance(node, ast.Compare | ast.BoolOp) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            raise self.fail(
                node,
                f"A condition cannot be compared: '{_source(node, self.expression)}'; combine "
                "conditions with and/or",
            )
        raise self.disallowed(node)

    def bounded(self, node: ast.AST, value: int | float) -> None:
        """Numbers are finite and within ±MAX_NUMBER (a 400-digit integer would overflow)."""
        # Python compares a huge int with a float exactly, without converting it.
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
            raise self.fail(node, f"Numbers in rules are limited to ±{MAX_NUMBER:.0e} (finite)")

    def compare(self, node: ast.Compare) -> None:
        left = node.left
        left_type = self.operand(left)
        if len(node.ops) > 1 and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            raise self.fail(node, "Use `in` / `not in` on their own, not in a chain of comparisons")
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _COMPARE_OPS.get(type(op))
            if symbol is None:
                raise self.fail(node, f"Not allowed: the operator `{type(op).__name__}`")
            if symbol in ("in", "not in"):
                if not isinstance(right, ast.List | ast.Tuple):
                    raise self.fail(right, f"`{symbol}` needs a list, e.g. country in ['NG', 'RU']")
                if not right.elts:
                    raise self.fail(right, f"`{symbol}` needs a non-empty list")
                for element in right.elts:
                    element_type = self.operand(element)
                    if isinstance(element, ast.Name):
                        raise self.fail(element, "A list after `in` may only hold constants")
                    self.same_type(node, left_type, element_type, left, element)
                right_type = left_type
            else:
                right_type = self.operand(right)
                self.same_type(node, left_type, right_type, left, right)
                if symbol in _ORDERING and "text" in (left_type, right_type):
                    raise self.fail(
                        node,
                        f"`{symbol}` compares numbers; text fields such as "
                        f"'{_source(left if left_type == 'text' else right, self.expression)}' "
                        "only take ==, != or in",
                    )
            left, left_type = right, right_type

    def same_type(self, node, left_type, right_type, left, right) -> None:
        kinds = {left_type, right_type}
        if kinds <= {"number", "bool"} or kinds == {"text"}:
            return
        raise self.fail(
            node,
            f"Cannot compare text with a number: '{_source(left, self.expression)}' and "
            f"'{_source(right, self.expression)}'",
        )


def compile_rule(expression: str, *, extra_features: Iterable[str] = ()) -> CompiledRule:
    """Parse and check ``expression``; raise :class:`RuleError` naming the problem."""
    if not isinstance(expression, str) or not expression.strip():
        raise RuleError("The expression is empty.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise RuleError(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    # Newlines are fine for readability; the parser sees one expression.
    source = " ".join(expression.split())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = f" (at column {exc.offset})" if exc.offset else ""
        raise RuleError(f"Syntax error{column}: {exc.msg}.") from None
    except (ValueError, RecursionError, MemoryError):
        raise RuleError("The expression could not be parsed (too deeply nested?).") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise RuleError(f"The expression is too complex (more than {MAX_NODES} parts).")
    names = allowed_names(extra_features)
    checker = _Checker(source, names)
    checker.condition(tree.body)
    return CompiledRule(
        expression=source,
        tree=tree,
        names=checker.used,
        types={n: names[n] for n in checker.used},
    )


class _Evaluator:
    """Vectorised evaluation of a checked tree over a frame."""

    def __init__(self, frame: pd.DataFrame, types: dict[str, str]):
        self.frame = frame
        self.types = types
        self.n = len(frame)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, present) for a name; absent columns are all missing."""
        if name not in self.frame:
            return np.full(self.n, np.nan), np.zeros(self.n, dtype=bool)
        series = self.frame[name]
        if self.types.get(name) == "text":
            values = series.fillna("").astype(str).to_numpy(dtype=object)
            return values, values != ""
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        return values, ~np.isnan(values)

    def operand(self, node: ast.AST) -> tuple[np.ndarray | object, np.ndarray | bool]:
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Constant):
            return node.value, True
        if isinstance(node, ast.UnaryOp):  # checked: a signed numeric constant
            value = node.operand.value
            return (-value if isinstance(node.op, ast.USub) else value), True
        raise RuleError(f"Cannot evaluate '{ast.unparse(node)}'.")

    def boolean(self, node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for part in parts[1:]:
                out = combine(out, part)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.boolean(node.operand)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name):
            values, present = self.column(node.id)
            if self.types.get(node.id) == "text":
                return present
            with np.errstate(invalid="ignore"):
                return present & (values != 0)
        if isinstance(node, ast.Constant):
            return np.full(self.n, bool(node.value))
        raise RuleError(f"Cannot evaluate '{ast.unparse(node)}'.")

    def compare(self, node: ast.Compare) -> np.ndarray:
        out = np.ones(self.n, dtype=bool)
        left = node.left
        left_values, left_present = self.operand(left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _COMPARE_OPS[type(op)]
            if symbol in ("in", "not in"):
                options = [self.operand(e)[0] for e in right.elts]
                if isinstance(left_values, np.ndarray):
                    hit = pd.Series(left_values).isin(options).to_numpy()
                else:
                    hit = np.full(self.n, left_values in options)
                result = hit if symbol == "in" else ~hit
                right_values, right_present = left_values, left_present
            else:
                right_values, right_present = self.operand(right)
                with np.errstate(invalid="ignore"):
                    result = _apply(symbol, left_values, right_values)
                result = np.broadcast_to(np.asarray(result, dtype=bool), (self.n,))
            out = out & result & left_present & right_present
            left_values, left_present = right_values, right_present
        return out


def _apply(symbol: str, a, b):
    if symbol == "==":
        return a == b
    if symbol == "!=":
        return a != b
    if symbol == "<":
        return a < b
    if symbol == "<=":
        return a <= b
    if symbol == ">":
        return a > b
    return a >= b


@dataclass
class RuleHits:
    """Result of :func:`rules_apply`: per row, the highest floor and the rules that fired; and
    the rules that failed on this frame (skipped), with their error."""

    floors: np.ndarray  # int, 0 where no rule fired
    fired: list[list[int]]  # indexes into the rules list, per row
    errors: dict[int, str] = field(default_factory=dict)  # index into the rules list → error


def rule_evaluate(rule: CompiledRule, frame: pd.DataFrame) -> np.ndarray:
    """``rule.evaluate(frame)``, with any failure raised as a :class:`RuleError` naming it."""
    try:
        with np.errstate(all="ignore"):
            mask = rule.evaluate(frame)
    except RuleError:
        raise
    except Exception as exc:  # a checked rule should not fail; if it does, say how
        raise RuleError(f"Failed at run time: {type(exc).__name__}: {exc}"[:500]) from exc
    if mask.shape != (len(frame),):
        raise RuleError(f"Gave {mask.shape} results for {len(frame)} rows.")
    return mask


def rules_apply(compiled: list[tuple[CompiledRule, int]], frame: pd.DataFrame) -> RuleHits:
    """Evaluate ``(rule, floor)`` pairs over ``frame``. A rule that fails is skipped and its
    error recorded in ``errors``; it never stops the other rules."""
    n = len(frame)
    floors = np.zeros(n, dtype=int)
    fired: list[list[int]] = [[] for _ in range(n)]
    errors: dict[int, str] = {}
    for j, (rule, floor) in enumerate(compiled):
        try:
            mask = rule_evaluate(rule, frame)
        except RuleError as exc:
            errors[j] = exc.message
            continue
        floors = np.where(mask, np.maximum(floors, floor), floors)
        for i in np.flatnonzero(mask):
            fired[i].append(j)
    return RuleHits(floors=floors, fired=fired, errors=errors)
