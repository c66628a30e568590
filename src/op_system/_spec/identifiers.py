"""Validated identifier and state-string types (compatible with op-system 0.1.2).

`IdentifierString` and `StateString` work with pydantic when it is installed
(they implement pydantic's schema hooks), but op_system does not import pydantic.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

__all__ = ["IdentifierString", "StateString", "validate_identifier_string"]


def validate_identifier_string(value: object) -> str:
    """Validate an identifier-like string: letters and digits, starting with a letter.

    Surrounding whitespace is stripped.

    !!! example
        ```python
        >>> validate_identifier_string("  S ")
        'S'
        >>> validate_identifier_string("1S")
        Traceback (most recent call last):
            ...
        ValueError: IdentifierString must contain only alphanumerical characters and start with a letter.

        ```
    """
    if not isinstance(value, str):
        raise TypeError("IdentifierString must be a string.")
    value = value.strip()
    if not value:
        raise ValueError("IdentifierString must not be empty.")
    if not value[0].isalpha() or not value.isalnum():
        raise ValueError(
            "IdentifierString must contain only alphanumerical characters and start with a letter."
        )
    return value


class _IdentifierValidator:
    """Marker carried by `IdentifierString`; hooks into pydantic lazily."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            validate_identifier_string, handler(source)
        )

    def __call__(self, value: object) -> str:
        return validate_identifier_string(value)

    def __repr__(self) -> str:
        return "IdentifierValidator()"


IdentifierString = Annotated[str, _IdentifierValidator()]
"""A `str` that must be a non-empty alphanumeric identifier starting with a letter."""

_STATE_STRING_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*)(?:\[(?P<dims>.*)\])?$")


class StateString:
    """A state name with optional bracketed dimensions, e.g. `"R[age,vax]"`.

    Mirrors op-system 0.1.2's pydantic model (`model_validate`, `model_dump`,
    `name`, `dims`), without requiring pydantic.

    !!! example
        ```python
        >>> s = StateString.model_validate("R[age, vax]")
        >>> s
        StateString(name='R', dims=('age', 'vax'))
        >>> str(s)
        'R[age,vax]'

        ```
    """

    __slots__ = ("dims", "name")
    name: str
    dims: tuple[str, ...]

    def __init__(self, name: str, dims: tuple[str, ...] | list[str] = ()) -> None:
        object.__setattr__(self, "name", validate_identifier_string(name))
        object.__setattr__(
            self, "dims", tuple(validate_identifier_string(d) for d in dims)
        )

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("StateString is immutable")

    @classmethod
    def model_validate(cls, value: object) -> StateString:
        """Build from a compact string, a mapping `{name, dims}`, or a `StateString`."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            m = _STATE_STRING_RE.fullmatch(value.strip())
            if m is None:
                raise ValueError(
                    "Invalid state string. Expected 'Name' or 'Name[dim1,dim2]' "
                    "with no whitespace before '['."
                )
            dims = m.group("dims")
            return cls(m.group("name"), tuple(dims.split(",")) if dims else ())
        if isinstance(value, dict):
            return cls(value["name"], tuple(value.get("dims", ())))
        raise TypeError("StateString must be validated from a string or mapping.")

    def model_dump(self) -> str:
        """Return the compact string form."""
        return str(self)

    def __str__(self) -> str:
        return f"{self.name}[{','.join(self.dims)}]" if self.dims else self.name

    def __repr__(self) -> str:
        return f"StateString(name={self.name!r}, dims={self.dims!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateString):
            return NotImplemented
        return (self.name, self.dims) == (other.name, other.dims)

    def __hash__(self) -> int:
        return hash((self.name, self.dims))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.model_validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )
