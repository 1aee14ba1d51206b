"""The config round trip shared by initializers, losses, schedules, constraints and regularizers, and the
``get``/``serialize`` by name of the families that have no custom objects (constraints, regularizers)."""


class Configurable:
    """``get_config()`` is a JSON-able dict of constructor arguments;
    ``from_config`` rebuilds the object from it, and ``repr`` shows it."""

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def resolve(kind, base, classes, aliases, identifier):
    """The ``get`` of a family of ``base`` subclasses (constraints, regularizers): an instance (or ``None``) from
    ``None``, a name or alias, a class, a ``serialize`` dict, an instance or a plain callable."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, dict):
        cls = classes.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown {kind} {identifier.get('class_name')!r}; valid: {sorted(classes)}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = aliases.get(identifier) or classes.get(identifier)
        if cls is None:
            raise ValueError(f"unknown {kind} {identifier!r}; valid names: {', '.join(sorted(aliases))}")
        return cls()
    if callable(identifier):
        return identifier
    raise TypeError(f"cannot interpret {identifier!r} as a {kind}; pass a name, a {base.__name__} or a callable")


def serialize(kind, base, obj):
    """``{"class_name", "config"}`` for a ``base`` instance (``None`` stays ``None``); a plain function by name."""
    if obj is None:
        return None
    if isinstance(obj, base):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    name = getattr(obj, "__name__", None)
    if name is None:
        raise ValueError(f"{kind}s: cannot serialize {obj!r}; subclass {base.__name__} with get_config")
    return name
