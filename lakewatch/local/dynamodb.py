"""The baselines table served in process for the local runner, with the DynamoDB semantics the handlers rely on.

Why: moto 5.1 spends 5-16 ms on one `UpdateItem` (it parses the update expression twice, validates it by
walking its syntax tree, deep-copies the item and walks its size) and scans every item on a `Query`; the
demo's job_monitor and hourly overdue_check make ~16,000 such calls, which held the stream replay to two
minutes. Like `aws.CleanStreams`, `LocalTable.attach` answers a client's DynamoDB calls for this one table in
a botocore `before-call` hook: the handlers' code and their boto3 clients (parameter validation, request
serialisation, the `ClientError` they raise) run unchanged; only the answer comes from here instead of moto.

What it implements is what the handlers use, with DynamoDB's semantics, and nothing more; anything else
raises `Unsupported` (a handler change that needs more fails loudly in the end-to-end tests instead of
silently differing from AWS):

* `GetItem`, `BatchGetItem` (at most 100 distinct keys), `PutItem`, `UpdateItem`, `DeleteItem`, and `Query`
  on the table or a global secondary index (only items holding the index's key attributes are in it; it
  returns the keys and the projected attributes; `Limit` / `ExclusiveStartKey` / `LastEvaluatedKey` pages);
* condition and key-condition expressions: `=`, `<>`, `<`, `<=`, `>`, `>=` between attribute names and
  values (a missing attribute or another type compares false, except `<>`, which is then true),
  `attribute_exists`, `attribute_not_exists`, `AND`, `OR`, `NOT`, parentheses, `#name` placeholders;
  reserved words used as bare names, and unused or undefined placeholders, are refused as on AWS;
* update expressions: `SET a = :v` (or `= b`), `REMOVE a, b`, `ADD n :number`; key attributes cannot change;
* `ReturnValues` `NONE` / `ALL_OLD` / `ALL_NEW`, `ReturnValuesOnConditionCheckFailure=ALL_OLD`;
* errors as DynamoDB sends them: `ConditionalCheckFailedException` (carrying the item when asked),
  `ValidationException` for empty or over-long keys, a key attribute of the wrong type and the above.

Writes are atomic and every read is consistent (one process, one thread). Items are stored as the typed
JSON the client sent (numbers are kept as written). TTL is not emulated: nothing in a replay outlives it.

moto stays the reference: `tests/unit/local/test_dynamodb.py` runs the same calls against moto and against
this table and compares the answers, `tests/integration` run the handlers on moto itself, and an end-to-end
test replays the same events with either and compares the alerts.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from botocore.awsrequest import AWSResponse

from lakewatch.domain.baseline import MAX_BATCH_GET_KEYS, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from lakewatch.local import hooks

#: A page of Query results stops at this many bytes of items (DynamoDB's 1 MB), measured as JSON text.
MAX_PAGE_BYTES = 1024 * 1024
#: The ordering comparators; `=` and `<>` hold for any two values of one type.
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_COMPARATORS = ("=", "<>", *_ORDERINGS)
_FUNCTIONS = {"ATTRIBUTE_EXISTS": "exists", "ATTRIBUTE_NOT_EXISTS": "not_exists"}
_TOKEN = re.compile(r"\s*(?:(#\w+)|(:\w+)|(<>|<=|>=|=|<|>|\(|\)|,)|([A-Za-z_]\w*))")

Item = dict[str, dict[str, Any]]
Expression = tuple[Any, ...]


class Unsupported(NotImplementedError):
    """A call or expression this emulation does not implement: extend it, or run against moto."""


class DynamoDBError(Exception):
    """An error DynamoDB itself would return; the hook turns it into the client's `ClientError`."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


def _validation(message: str) -> DynamoDBError:
    return DynamoDBError("ValidationException", message)


@functools.cache
def _reserved_words() -> frozenset[str]:
    """DynamoDB's reserved words (moto ships AWS's list): a bare attribute name may not be one of them."""
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    return frozenset(word.upper() for word in ReservedKeywords.get_reserved_keywords())


# ------------------------------------------------------------------------------------------ expressions
def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Unsupported(f"expression syntax not emulated near {text[position:]!r}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over one expression's tokens; produces nested tuples (see `_evaluate`)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise _validation(f"Invalid expression: expected {expected or 'a token'}, found {token!r}")
        self.position += 1
        return token

    def done(self) -> None:
        if self.peek() is not None:
            raise _validation(f"Invalid expression: unexpected token {self.peek()!r}")

    def condition(self) -> Expression:
        left = self.conjunction()
        while (self.peek() or "").upper() == "OR":
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.negation()
        while (self.peek() or "").upper() == "AND":
            self.take()
            left = ("and", left, self.negation())
        return left

    def negation(self) -> Expression:
        word = (self.peek() or "").upper()
        if word == "NOT":
            self.take()
            return ("not", self.negation())
        if word == "(":
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        if word in _FUNCTIONS:
            self.take()
            self.take("(")
            path = self.path()
            self.take(")")
            return (_FUNCTIONS[word], path)
        left = self.operand()
        comparator = self.take()
        if comparator not in _COMPARATORS:
            raise Unsupported(f"comparator or function not emulated: {comparator!r}")
        return ("compare", comparator, left, self.operand())

    def operand(self) -> Expression:
        token = self.peek() or ""
        if token.startswith(":"):
            return ("value", self.take())
        return self.path()

    def path(self) -> Expression:
        name = self.take()
        if not (name[0] == "#" or name[0].isalpha() or name[0] == "_"):
            raise _validation(f"Invalid expression: expected an attribute name, found {name!r}")
        if name[0] != "#" and name.upper() in _reserved_words():
            raise _validation(f"Invalid expression: Attribute name is a reserved keyword; reserved keyword: {name}")
        return ("path", name)

    def update(self) -> dict[str, list[tuple[Expression, Expression | None]]]:
        clauses: dict[str, list[tuple[Expression, Expression | None]]] = {}
        while self.peek() is not None:
            keyword = self.take().upper()
            if keyword not in ("SET", "REMOVE", "ADD"):
                raise Unsupported(f"update clause not emulated: {keyword}")
            if keyword in clauses:
                raise _validation(f'Invalid UpdateExpression: The "{keyword}" section can only be used once')
            actions = clauses[keyword] = []
            while True:
                target = self.path()
                if keyword == "SET":
                    self.take("=")
                    value = self.operand()
                    if (self.peek() or "") == "(":
                        raise Unsupported("functions in SET are not emulated")
                elif keyword == "ADD":
                    value = self.operand()
                else:
                    value = None
                actions.append((target, value))
                if self.peek() != ",":
                    break
                self.take()
        return clauses


@dataclass(frozen=True, slots=True)
class _Parsed:
    """An expression's tree and the placeholders it uses."""

    tree: Any
    placeholders: tuple[str, ...]

    @classmethod
    def of(cls, tree: Any) -> _Parsed:
        return cls(tree, tuple(dict.fromkeys(_placeholders(tree))))


@functools.lru_cache(maxsize=256)
def _parse_condition(text: str) -> _Parsed:
    """Parsed once per distinct expression text: the handlers send the same few expressions every call."""
    parser = _Parser(text)
    tree = parser.condition()
    parser.done()
    return _Parsed.of(tree)


@functools.lru_cache(maxsize=64)
def _parse_update(text: str) -> _Parsed:
    """An update expression as {clause: [(target, value or None)]}, parsed once per distinct text."""
    parser = _Parser(text)
    clauses = parser.update()
    parser.done()
    if not clauses:
        raise _validation("Invalid UpdateExpression: The expression can not be empty")
    return _Parsed.of(clauses)


def _placeholders(tree: Any) -> Iterable[str]:
    if isinstance(tree, tuple) and len(tree) == 2 and tree[0] in ("path", "value"):
        if tree[1][0] in "#:":
            yield tree[1]
        return
    items = tree.values() if isinstance(tree, dict) else tree
    for node in items:
        if isinstance(node, tuple | list | dict):
            yield from _placeholders(node)


class _Request:
    """One request's placeholders: resolves `#name` and `:value`, and checks each is defined and used."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.names: dict[str, str] = body.get("ExpressionAttributeNames") or {}
        self.values: Item = body.get("ExpressionAttributeValues") or {}
        self.used: set[str] = set()

    def use(self, parsed: _Parsed) -> Any:
        """The expression's tree, once each placeholder it uses is checked defined (and noted used)."""
        for token in parsed.placeholders:
            defined = self.names if token.startswith("#") else self.values
            if token not in defined:
                kind = "attribute name" if token.startswith("#") else "attribute value"
                raise _validation(f"Value provided in expression uses an undefined {kind}: {token}")
            self.used.add(token)
        return parsed.tree

    def check_all_used(self) -> None:
        for kind, defined in (("ExpressionAttributeNames", self.names), ("ExpressionAttributeValues", self.values)):
            unused = sorted(set(defined) - self.used)
            if unused:
                raise _validation(f"Value provided in {kind} unused in expressions: keys: {{{', '.join(unused)}}}")

    def name(self, path: Expression) -> str:
        token = path[1]
        return self.names[token] if token.startswith("#") else token

    def operand(self, node: Expression, item: Item | None) -> dict[str, Any] | None:
        if node[0] == "value":
            return self.values[node[1]]
        return None if item is None else item.get(self.name(node))

    def holds(self, tree: Expression, item: Item | None) -> bool:
        """Whether the condition `tree` holds for `item` (None: no item)."""
        kind = tree[0]
        if kind == "or":
            return self.holds(tree[1], item) or self.holds(tree[2], item)
        if kind == "and":
            return self.holds(tree[1], item) and self.holds(tree[2], item)
        if kind == "not":
            return not self.holds(tree[1], item)
        if kind in ("exists", "not_exists"):
            present = item is not None and self.name(tree[1]) in item
            return present if kind == "exists" else not present
        return _compare(tree[1], self.operand(tree[2], item), self.operand(tree[3], item))


def _scalar(value: dict[str, Any]) -> tuple[str, Any]:
    [(kind, raw)] = value.items()
    return kind, Decimal(raw) if kind == "N" else raw


def _compare(comparator: str, left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    """DynamoDB's comparison: a missing operand or two different types compare false, but for `<>`."""
    if left is None or right is None:
        return comparator == "<>"
    (left_kind, left_value), (right_kind, right_value) = _scalar(left), _scalar(right)
    if left_kind != right_kind:
        return comparator == "<>"
    if comparator in ("=", "<>"):
        return (left_value == right_value) == (comparator == "=")
    if left_kind not in ("S", "N", "B"):
        raise _validation(f"Invalid ConditionExpression: Incorrect operand type for operator: {comparator}")
    return _ORDERINGS[comparator](left_value, right_value)


def _number_text(value: Decimal) -> str:
    """A number as DynamoDB returns it: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


# ------------------------------------------------------------------------------------------------ table
class LocalTable:
    """One DynamoDB table (its `CreateTable` arguments), served to the clients `attach`ed to it."""

    _HOOK = "before-call.dynamodb"

    def __init__(self, definition: dict[str, Any]) -> None:
        self.name: str = definition["TableName"]
        self._types = {spec["AttributeName"]: spec["AttributeType"] for spec in definition["AttributeDefinitions"]}
        self._key = [spec["AttributeName"] for spec in definition["KeySchema"]]
        self._indexes: dict[str, tuple[list[str], frozenset[str] | None]] = {}
        for index in definition.get("GlobalSecondaryIndexes", []):
            keys = [spec["AttributeName"] for spec in index["KeySchema"]]
            projection = index.get("Projection", {})
            if projection.get("ProjectionType") == "ALL":
                projected = None
            else:
                projected = frozenset([*keys, *self._key, *projection.get("NonKeyAttributes", [])])
            self._indexes[index["IndexName"]] = (keys, projected)
        self._items: dict[tuple[Any, ...], Item] = {}
        self._clients: list[Any] = []
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "GetItem": self._get_item,
            "BatchGetItem": self._batch_get_item,
            "PutItem": self._put_item,
            "UpdateItem": self._update_item,
            "DeleteItem": self._delete_item,
            "Query": self._query,
        }

    # ------------------------------------------------------------------------------------- botocore side
    def attach(self, client: Any) -> None:
        client.meta.events.register_first(self._HOOK, self._answer, unique_id=f"lakewatch-table-{id(self)}")
        self._clients.append(client)

    def detach_all(self) -> None:
        for client in self._clients:
            client.meta.events.unregister(self._HOOK, unique_id=f"lakewatch-table-{id(self)}")
        self._clients.clear()

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = orjson.loads(params["body"]) if params.get("body") else {}
        tables = set(body.get("RequestItems", {})) if model.name == "BatchGetItem" else {body.get("TableName")}
        if self.name not in tables:
            return None  # another table: moto answers
        if len(tables) > 1:
            raise Unsupported("BatchGetItem across tables is not emulated")
        if model.name not in self._handlers:
            raise Unsupported(f"DynamoDB {model.name} is not emulated on {self.name}")
        for option in ("ReturnConsumedCapacity", "ReturnItemCollectionMetrics"):
            if body.get(option, "NONE") != "NONE":
                raise Unsupported(f"{option} is not emulated")
        try:
            parsed, status = self._handlers[model.name](body), 200
        except DynamoDBError as error:
            parsed = {"Error": {"Code": error.code, "Message": str(error)}, **error.extra}
            status = 400
        # A copy: what the caller does with the answer must not reach the stored items.
        return hooks.answer(params["url"], orjson.loads(orjson.dumps(parsed)), status)

    # ------------------------------------------------------------------------------------------- keys
    def _key_of(self, key: Item) -> tuple[Any, ...]:
        if set(key) != set(self._key):
            raise _validation("The provided key element does not match the schema")
        return tuple(self._checked_key_value(name, key[name], position) for position, name in enumerate(self._key))

    def _checked_key_value(self, name: str, value: dict[str, Any], position: int) -> Any:
        [(kind, raw)] = value.items()
        if kind != self._types[name]:
            raise _validation("The provided key element does not match the schema")
        if kind == "S":
            size = len(raw.encode())
            if size == 0:
                raise _validation(
                    f"One or more parameter values are not valid. The AttributeValue for a key "
                    f"attribute cannot contain an empty string value. Key: {name}"
                )
            limit = MAX_PARTITION_KEY_BYTES if position == 0 else MAX_SORT_KEY_BYTES
            if size > limit:
                raise _validation(f"One or more parameter values were invalid: Size of key {name} exceeds {limit}")
        return _scalar(value)[1]

    def _check_item(self, item: Item) -> None:
        """Index key attributes must have the declared type and not be empty (items lacking one are simply
        not in that index)."""
        for keys, _projection in self._indexes.values():
            for name in keys:
                if name in item:
                    [(kind, raw)] = item[name].items()
                    if kind != self._types[name] or raw == "":
                        raise _validation(f"One or more parameter values were invalid: bad index key {name}")

    # -------------------------------------------------------------------------------------- operations
    def _get_item(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("ProjectionExpression") or body.get("AttributesToGet"):
            raise Unsupported("projections on GetItem are not emulated")
        item = self._items.get(self._key_of(body["Key"]))
        return {} if item is None else {"Item": item}

    def _batch_get_item(self, body: dict[str, Any]) -> dict[str, Any]:
        request = body["RequestItems"][self.name]
        if request.get("ProjectionExpression") or request.get("AttributesToGet"):
            raise Unsupported("projections on BatchGetItem are not emulated")
        keys = [self._key_of(key) for key in request["Keys"]]
        if len(keys) > MAX_BATCH_GET_KEYS:
            raise _validation("Too many items requested for the BatchGetItem call")
        if len(set(keys)) != len(keys):
            raise _validation("Provided list of item keys contains duplicates")
        found = [self._items[key] for key in keys if key in self._items]
        return {"Responses": {self.name: found}, "UnprocessedKeys": {}}

    def _conditional(self, body: dict[str, Any], request: _Request, old: Item | None) -> None:
        text = body.get("ConditionExpression")
        if body.get("Expected") or body.get("ConditionalOperator"):
            raise Unsupported("legacy conditions (Expected) are not emulated")
        if text is None:
            return
        if not request.holds(request.use(_parse_condition(text)), old):
            extra = {}
            if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                extra["Item"] = old
            raise DynamoDBError("ConditionalCheckFailedException", "The conditional request failed", **extra)

    @staticmethod
    def _returned(body: dict[str, Any], old: Item | None, new: Item | None, allowed: tuple[str, ...]) -> dict:
        wanted = body.get("ReturnValues", "NONE")
        if wanted not in ("NONE", *allowed):
            raise Unsupported(f"ReturnValues={wanted} is not emulated")
        chosen = old if wanted == "ALL_OLD" else new if wanted == "ALL_NEW" else None
        return {"Attributes": chosen} if chosen else {}

    def _put_item(self, body: dict[str, Any]) -> dict[str, Any]:
        item: Item = body["Item"]
        key = self._key_of({name: item.get(name) for name in self._key if name in item})
        self._check_item(item)
        request = _Request(body)
        old = self._items.get(key)
        self._conditional(body, request, old)
        request.check_all_used()
        self._items[key] = item
        return self._returned(body, old, None, ("ALL_OLD",))

    def _delete_item(self, body: dict[str, Any]) -> dict[str, Any]:
        key = self._key_of(body["Key"])
        request = _Request(body)
        old = self._items.get(key)
        self._conditional(body, request, old)
        request.check_all_used()
        self._items.pop(key, None)
        return self._returned(body, old, None, ("ALL_OLD",))

    def _update_item(self, body: dict[str, Any]) -> dict[str, Any]:
        key = self._key_of(body["Key"])
        if body.get("AttributeUpdates"):
            raise Unsupported("legacy AttributeUpdates are not emulated")
        request = _Request(body)
        clauses = request.use(_parse_update(body["UpdateExpression"]))
        old = self._items.get(key)
        self._conditional(body, request, old)
        request.check_all_used()
        new = dict(old) if old is not None else dict(body["Key"])
        for clause, actions in clauses.items():
            for target, value in actions:
                name = request.name(target)
                if name in self._key:
                    raise _validation(
                        f"One or more parameter values were invalid: Cannot update attribute {name}. "
                        "This attribute is part of the key"
                    )
                if clause == "SET":
                    operand = request.operand(value, old)
                    if operand is None:
                        raise _validation("The provided expression refers to an attribute that does not exist")
                    new[name] = operand
                elif clause == "REMOVE":
                    new.pop(name, None)
                else:
                    new[name] = self._added(new.get(name), request.operand(value, old))
        self._check_item(new)
        self._items[key] = new
        return self._returned(body, old, new, ("ALL_OLD", "ALL_NEW"))

    @staticmethod
    def _added(current: dict[str, Any] | None, increment: dict[str, Any] | None) -> dict[str, Any]:
        if increment is None or "N" not in increment or (current is not None and "N" not in current):
            raise Unsupported("ADD is emulated for numbers only")
        total = Decimal(increment["N"]) + (Decimal(current["N"]) if current is not None else 0)
        return {"N": _number_text(total)}

    def _query(self, body: dict[str, Any]) -> dict[str, Any]:
        for option in ("FilterExpression", "ProjectionExpression", "KeyConditions", "QueryFilter", "AttributesToGet"):
            if body.get(option):
                raise Unsupported(f"{option} on Query is not emulated")
        if body.get("Select", "ALL_ATTRIBUTES") not in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"):
            raise Unsupported("Select other than the attributes is not emulated")
        index_name = body.get("IndexName")
        if index_name is not None and index_name not in self._indexes:
            raise _validation(f"The table does not have the specified index: {index_name}")
        if index_name and body.get("ConsistentRead"):
            raise _validation("Consistent reads are not supported on global secondary indexes")
        keys, projected = self._indexes[index_name] if index_name else (self._key, None)
        request = _Request(body)
        condition = request.use(_parse_condition(body["KeyConditionExpression"]))
        key_conditions = self._key_conditions(condition, request, keys)
        request.check_all_used()
        # Ties on the index key are read in table key order, as moto does (DynamoDB leaves it unspecified).
        order = [*keys, *(name for name in self._key if name not in keys)]
        matching = self._matching(key_conditions, keys, order, body)
        limit = body.get("Limit")
        page = _page(matching, limit or len(matching))
        response: dict[str, Any] = {
            "Items": [_projected(item, projected) for item in page],
            "Count": len(page),
            "ScannedCount": len(page),
        }
        # As DynamoDB: a page stopped by its Limit or its size says where to go on, even if nothing follows.
        if page and (len(page) == limit or len(page) < len(matching)):
            response["LastEvaluatedKey"] = {name: page[-1][name] for name in order}
        return response

    def _matching(
        self, key_conditions: list[tuple[str, str, dict[str, Any]]], keys: list[str], order: list[str], body: dict
    ) -> list[Item]:
        """The items of the table or index (only those holding its keys) meeting every key condition, in read
        order, after `ExclusiveStartKey`."""

        def position(item: Item) -> tuple[Any, ...]:
            return tuple(_scalar(item[name])[1] for name in order)

        in_index = (item for item in self._items.values() if all(name in item for name in keys))
        meets = [
            item
            for item in in_index
            if all(_compare(comparator, item[name], value) for name, comparator, value in key_conditions)
        ]
        matching = sorted(meets, key=position)
        forward = body.get("ScanIndexForward", True)
        if not forward:
            matching.reverse()
        start = body.get("ExclusiveStartKey")
        if start is None:
            return matching
        after = position(start)
        return [item for item in matching if (position(item) > after if forward else position(item) < after)]

    @staticmethod
    def _key_conditions(
        condition: Expression, request: _Request, keys: list[str]
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """A key condition as (attribute, comparator, value) pairs: `partition = :v`, optionally AND a
        comparison on the sort key."""
        parts = [condition[1], condition[2]] if condition[0] == "and" else [condition]
        named = {}
        for part in parts:
            if part[0] != "compare" or part[2][0] != "path" or part[3][0] != "value":
                raise Unsupported("key conditions other than `name <comparator> :value` are not emulated")
            named[request.name(part[2])] = (part[1], request.values[part[3][1]])
        if named.get(keys[0], ("",))[0] != "=" or not set(named) <= set(keys) or len(named) != len(parts):
            raise _validation("Query condition missed key schema element")
        if any(comparator == "<>" for comparator, _value in named.values()):
            raise _validation("Invalid KeyConditionExpression: Unsupported operator on KeyCondition: <>")
        return [(name, comparator, value) for name, (comparator, value) in named.items()]


def _page(items: list[Item], limit: int) -> list[Item]:
    """The first `limit` items, fewer if they pass DynamoDB's page size."""
    page: list[Item] = []
    size = 0
    for item in items:
        size += len(orjson.dumps(item))
        if len(page) == limit or (page and size > MAX_PAGE_BYTES):
            break
        page.append(item)
    return page


def _projected(item: Item, attributes: frozenset[str] | None) -> Item:
    return item if attributes is None else {name: value for name, value in item.items() if name in attributes}
