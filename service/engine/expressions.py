"""The safe evaluator for every expression found in a diagram (design rule 6).

Two layers: a static AST allow-list (checked at validation and again before each
evaluation) and simpleeval's interpreter with tighter operator limits. Nothing
here ever calls eval/exec.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes, InvalidExpression

MAX_EXPRESSION_LENGTH = 1000
MAX_NODES = 300
MAX_COMPREHENSIONS = 1
MAX_SEQUENCE_RESULT = 10_000
MAX_INT_BITS = 4096
MAX_EXPONENT = 256

SAFE_FUNCTIONS: dict[str, Any] = {
    f.__name__: f for f in (len, str, int, float, bool, min, max, abs, round, sorted, any, all)
}
# Methods on plain data (str, list, dict) that cannot reach the interpreter.
SAFE_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "title",
        "casefold",
        "startswith",
        "endswith",
        "isdigit",
        "isalpha",
        "isalnum",
        "split",
        "replace",
        "count",
        "index",
        "get",
        "keys",
        "values",
        "items",
    }
)

_ALLOWED_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.keyword,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.Store,
)


class ExpressionError(Exception):
    """An expression is unsafe, malformed or failed; the message names it and why."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        shown = expression if len(expression) <= 120 else expression[:117] + "..."
        super().__init__(f"expression {shown!r} refused: {reason}")


def check_expression(expression: str) -> ast.Expression:
    """Parse and statically vet an expression; raise ExpressionError if unsafe."""
    if not isinstance(expression, str):
        raise ExpressionError(repr(expression), "an expression must be text")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(expression, f"longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(expression, f"syntax error: {err.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(expression, "too complex")
    for node in nodes:
        _check_node(expression, node)
    if sum(isinstance(n, ast.comprehension) for n in nodes) > MAX_COMPREHENSIONS:
        raise ExpressionError(expression, "at most one comprehension loop is allowed")
    _fold_constant_arithmetic(expression, nodes)
    return tree


def _fold_constant_arithmetic(expression: str, nodes: list[ast.AST]) -> None:
    # So that 9**9**9 is refused when the diagram is validated, not first at run time.
    for node in nodes:
        if isinstance(node, ast.BinOp) and not any(
            isinstance(n, ast.Name | ast.Call) for n in ast.walk(node)
        ):
            _interpret(expression, node, {})


def _check_node(expression: str, node: ast.AST) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise ExpressionError(expression, f"{type(node).__name__} is not allowed")
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise ExpressionError(expression, f"name {node.id!r} is not allowed")
    if isinstance(node, ast.Attribute) and node.attr not in SAFE_METHODS:
        raise ExpressionError(expression, f"attribute {node.attr!r} is not allowed")
    if isinstance(node, ast.Call):
        _check_call(expression, node)


def _check_call(expression: str, node: ast.Call) -> None:
    func = node.func
    if isinstance(func, ast.Name) and func.id not in SAFE_FUNCTIONS:
        raise ExpressionError(expression, f"function {func.id!r} is not allowed")
    if not isinstance(func, ast.Name | ast.Attribute):
        raise ExpressionError(expression, "only named functions may be called")


def _bounded_mult(left: Any, right: Any) -> Any:
    sequences = (str, list, tuple, bytes)
    if isinstance(left, sequences) or isinstance(right, sequences):
        sequence, times = (right, left) if isinstance(left, int) else (left, right)
        if isinstance(times, int) and len(sequence) * max(times, 0) > MAX_SEQUENCE_RESULT:
            raise ValueError("the repeated sequence would be too long")
    elif (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise ValueError("the product would be too large")
    return operator.mul(left, right)


def _bounded_pow(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponents above {MAX_EXPONENT} are not allowed")
    both_int = isinstance(base, int) and isinstance(exponent, int)
    if both_int and base.bit_length() * abs(exponent) > MAX_INT_BITS:
        raise ValueError("the power would be too large")
    return operator.pow(base, exponent)


_OPERATORS = {**DEFAULT_OPERATORS, ast.Mult: _bounded_mult, ast.Pow: _bounded_pow}


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate a vetted expression against task data; raise ExpressionError on any failure."""
    tree = check_expression(expression)
    return _interpret(expression, tree.body, names)


def _interpret(expression: str, node: ast.AST, names: Mapping[str, Any]) -> Any:
    evaluator = EvalWithCompoundTypes(
        operators=_OPERATORS, functions=dict(SAFE_FUNCTIONS), names=dict(names)
    )
    try:
        return evaluator.eval(expression.strip(), previously_parsed=node)
    except InvalidExpression as err:
        raise ExpressionError(expression, str(err)) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as err:
        raise ExpressionError(expression, f"{type(err).__name__}: {err}") from None
