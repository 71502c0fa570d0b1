"""The losses of eql.losses by name, the name that MODEL.EQL.LOSS and the tools use: each loss
class is registered with ``@register_loss("<name>")`` in the file of that name."""

from typing import Dict

LOSSES: Dict[str, type] = {}


def register_loss(name: str):
    """Class decorator: registers a ClassificationLoss subclass as ``name`` (sets ``cls.name``)."""

    def register(cls: type) -> type:
        known = LOSSES.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"a loss named {name!r} is already registered: {known.__qualname__}")
        cls.name = name
        LOSSES[name] = cls
        return cls

    return register
