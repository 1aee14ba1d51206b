"""Placeholder for the ``Trainer`` mixin (compile/fit/evaluate/predict).

``nnkit.models.Model`` inherits from it: ``class Model(Trainer, Layer)``.
The training engineer replaces this file.  Contract with Model: a
``Trainer.__init__``, if any, must accept and forward ``*args, **kwargs`` to
``super().__init__`` (Model initialises its Layer state through it).
"""


class Trainer:
    pass
