"""How yardwatch changes one part of an ultralytics training loss: the part's class is swapped for a subclass that
mixes in yardwatch's change, on the loss object the trainer already holds (``yardwatch.models.nested``,
``yardwatch.models.obb_targets``). Only the running loss changes: checkpoints pickle the model, never the loss, so
the weights stay plain ultralytics weights."""

from __future__ import annotations

from typing import Any

_MIXED: dict[tuple[type, type], type] = {}


def mixed_class(mixin: type, base: type, prefix: str) -> type:
    """The subclass ``<prefix><base name>`` of ``base`` with ``mixin`` first in its method order (made once)."""
    if (mixin, base) not in _MIXED:
        _MIXED[mixin, base] = type(f"{prefix}{base.__name__}", (mixin, base), {})
    return _MIXED[mixin, base]


def switch_parts(criterion: Any, attribute: str, base: type, mixin: type, prefix: str) -> list[Any]:
    """Give the ``attribute`` part of ``criterion``, and of the losses it holds (e.g. both heads of an end-to-end
    model), the ``mixin`` where that part is a ``base``; returns the parts switched (already switched ones too)."""
    losses = [criterion, *[v for v in vars(criterion).values() if hasattr(v, attribute)]]
    parts = []
    for loss in losses:
        part = getattr(loss, attribute, None)
        if isinstance(part, base):
            if not isinstance(part, mixin):
                part.__class__ = mixed_class(mixin, type(part), prefix)
            parts.append(part)
    return parts


def training_criterion(trainer: Any) -> Any:
    """The loss object of an ultralytics trainer's model, built now if the model has not built it yet."""
    model = getattr(trainer.model, "module", trainer.model)  # DDP wrapper
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    if getattr(model, "criterion", None) is None:
        model.criterion = model.init_criterion()
    return model.criterion
