"""KQL scalar types and the conversions between them that the resolver applies."""

from __future__ import annotations

import enum


class Type(enum.Enum):
    BOOL = "bool"
    INT = "int"
    LONG = "long"
    REAL = "real"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    TIMESPAN = "timespan"
    STRING = "string"
    DYNAMIC = "dynamic"
    GUID = "guid"

    def __str__(self) -> str:
        return self.value

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC

    @property
    def is_orderable(self) -> bool:
        """Whether `<`, `>` and friends are defined on the type (strings are not)."""
        return self in NUMERIC or self in (Type.DATETIME, Type.TIMESPAN, Type.DYNAMIC)

    @property
    def is_sortable(self) -> bool:
        """Whether `sort by` accepts the type as a key."""
        return self in NUMERIC or self in (Type.DATETIME, Type.TIMESPAN, Type.STRING, Type.BOOL, Type.GUID)


NUMERIC = frozenset({Type.INT, Type.LONG, Type.REAL, Type.DECIMAL})

# Names a schema or `T(null)` literal may use for each type.
TYPE_NAMES: dict[str, Type] = {
    "bool": Type.BOOL,
    "boolean": Type.BOOL,
    "int": Type.INT,
    "long": Type.LONG,
    "real": Type.REAL,
    "double": Type.REAL,
    "decimal": Type.DECIMAL,
    "datetime": Type.DATETIME,
    "date": Type.DATETIME,
    "timespan": Type.TIMESPAN,
    "time": Type.TIMESPAN,
    "string": Type.STRING,
    "dynamic": Type.DYNAMIC,
    "guid": Type.GUID,
    "uniqueid": Type.GUID,
}


def type_from_name(name: str) -> Type:
    return TYPE_NAMES[name.lower()]


def widest_numeric(a: Type, b: Type) -> Type:
    """Return the result type of arithmetic on two numeric types (int and int give long)."""
    order = [Type.INT, Type.LONG, Type.DECIMAL, Type.REAL]
    widest = max(order.index(a), order.index(b))
    result = order[widest]
    return Type.LONG if result is Type.INT else result


def comparable(a: Type, b: Type) -> bool:
    """Whether `==` and `!=` are defined between values of types `a` and `b`.

    Microsoft's checker accepts `string == 5`; KQL then never matches, so the
    resolver rejects mismatched families instead. A dynamic value compares with
    any scalar, but two dynamic values do not compare.
    """
    if a is Type.DYNAMIC and b is Type.DYNAMIC:
        return False
    if a is Type.DYNAMIC or b is Type.DYNAMIC:
        return True
    if a.is_numeric and b.is_numeric:
        return True
    return a is b


def orderable_pair(a: Type, b: Type) -> bool:
    """Whether `<`, `<=`, `>`, `>=` are defined between `a` and `b`."""
    if not (a.is_orderable and b.is_orderable):
        return False
    if a is Type.DYNAMIC or b is Type.DYNAMIC:
        return not (a is Type.DYNAMIC and b is Type.DYNAMIC)
    if a.is_numeric and b.is_numeric:
        return True
    return a is b
