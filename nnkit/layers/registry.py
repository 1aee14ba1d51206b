"""Layer classes by name, so that a model rebuilds from its JSON config.

Built-in layers and models register themselves; a custom layer registers with
``@nnkit.register()`` (under its class name) or ``@nnkit.register("Name")``,
or is passed per call as ``custom_objects={"Name": cls}``.
"""
import contextlib
import threading

_REGISTRY = {}
_scope = threading.local()


def register(name=None):
    """Class decorator: make ``cls`` known to ``get``/``deserialize`` as ``name``.

    Usable as ``@register``, ``@register()`` or ``@register("Name")``.
    """
    if isinstance(name, type):  # bare @register
        return register()(name)

    def decorate(cls):
        key = name or cls.__name__
        previous = _REGISTRY.get(key)
        if previous is not None and previous is not cls and previous.__module__.startswith("nnkit."):
            raise ValueError(f"register: {key!r} is a built-in nnkit class ({previous.__module__}); "
                             f"choose another name")
        _REGISTRY[key] = cls
        cls._registered_name = key
        return cls

    return decorate


def registered_name(cls):
    """The name ``cls`` is known by in configs."""
    key = cls.__dict__.get("_registered_name")
    return key if key is not None and _REGISTRY.get(key) is cls else cls.__name__


def current_custom_objects():
    """The custom objects of the innermost ``custom_object_scope``."""
    merged = {}
    for layer in getattr(_scope, "stack", []):
        merged.update(layer)
    return merged


@contextlib.contextmanager
def custom_object_scope(objects):
    """Within the block, names in ``objects`` resolve to its classes/functions."""
    stack = getattr(_scope, "stack", None)
    if stack is None:
        stack = _scope.stack = []
    stack.append(dict(objects or {}))
    try:
        yield
    finally:
        stack.pop()


def get(class_name, custom_objects=None):
    """The class registered (or passed in ``custom_objects``) as ``class_name``."""
    extra = {**current_custom_objects(), **(custom_objects or {})}
    cls = extra.get(class_name) or _REGISTRY.get(class_name)
    if cls is None:
        known = sorted(set(_REGISTRY) | set(extra))
        raise ValueError(f"unknown layer class {class_name!r}; known: {', '.join(known)}. Register a custom "
                         f"layer with @nnkit.register() or pass custom_objects={{{class_name!r}: cls}}")
    return cls


def serialize(layer):
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return {"class_name": registered_name(type(layer)), "config": layer.get_config()}


def deserialize(config, custom_objects=None):
    """Rebuild a layer (or model) from ``serialize``'s output."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    with custom_object_scope(custom_objects):
        cls = get(config["class_name"])
        return cls.from_config(config.get("config", {}))
