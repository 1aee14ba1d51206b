"""The config round trip shared by initializers, losses and schedules."""


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
