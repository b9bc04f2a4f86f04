"""Record: a dataclass-like base for the small value classes on a turn's launch path.

`@dataclass` generates and compiles the source of `__init__`, `__repr__`, `__eq__`, ...
for every class it decorates: about 3 M instructions (1–2 ms) per class, paid at every
start before the backend can be spawned (bench/RESULTS.md). A Record subclass declares its
fields the same way (annotations, class-level defaults, `factory(make)` where a dataclass
says `field(default_factory=make)`) and gets the same behaviour from generic methods:
construction by position or keyword (then `__post_init__`, if defined), `==` between
instances of the same class, `repr`, and with `frozen=True` immutability
(`dataclasses.FrozenInstanceError`) and a hash; `replace(record, **changes)` does what
`dataclasses.replace` does. A subclass of a record class keeps its fields (as a plain
subclass of a dataclass); no record class derives from another.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned


if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    _R = TypeVar("_R", bound="Record")

# no `dataclasses` (nor the `inspect` it imports, ~15 ms) before a turn's backend is spawned


class _Factory:
    """A field's default made anew for each instance."""

    __slots__ = ("default_factory",)

    def __init__(self, make: Any) -> None:
        self.default_factory = make


def factory(make: Any) -> Any:
    """The default of a field made by calling `make()` for each instance."""
    return _Factory(make)


def _frozen_error(message: str) -> Exception:
    import dataclasses

    return dataclasses.FrozenInstanceError(message)


class Record:
    """Fields: the class's own annotations in order, defaults from the class body."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _frozen: ClassVar[bool] = False

    def __init_subclass__(cls, frozen: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if Record not in cls.__bases__:  # a plain subclass of a record: its fields, as is
            return
        names = tuple(name for name, kind in cls.__dict__.get("__annotations__", {}).items()
                      if not str(kind).startswith(("ClassVar", "typing.ClassVar")))
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        for name in defaults:  # instances carry their own values (a factory is no value)
            if isinstance(defaults[name], _Factory):
                delattr(cls, name)
        cls._fields, cls._defaults, cls._frozen = names, defaults, frozen
        cls.__match_args__ = names
        if frozen:
            cls.__hash__ = Record._hash  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]  # as a mutable dataclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__}() takes {len(cls._fields)} arguments, got {len(args)}")
        values = dict(zip(cls._fields, args, strict=False))  # fewer args than fields: defaults
        for name, value in kwargs.items():
            if name not in cls._fields or name in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        for name in cls._fields:
            if name not in values:
                if name not in cls._defaults:
                    raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                default = cls._defaults[name]
                values[name] = (default.default_factory()
                                if isinstance(default, _Factory) else default)
            object.__setattr__(self, name, values[name])
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def _hash(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise _frozen_error(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen:
            raise _frozen_error(f"cannot delete field {name!r}")
        object.__delattr__(self, name)


def replace(record: _R, /, **changes: Any) -> _R:
    """A new instance of record's class with these fields changed and the others as they are
    (then its `__post_init__`, as `dataclasses.replace`); TypeError for a name that is no
    field."""
    if not isinstance(record, Record):
        raise TypeError(f"replace() takes a Record, not {type(record).__name__}")
    cls = type(record)
    for name in changes:
        if name not in cls._fields:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
    return cls(**{name: changes[name] if name in changes else getattr(record, name)
                  for name in cls._fields})
