"""The phases of a training step and the roles of the tensors held at its peak, as reports name them."""

from __future__ import annotations

__all__ = ["HELD_ROLES", "RESIDENT_ROLES", "STEP_PHASES"]

#: The phases of a training step, in the order they run.
STEP_PHASES = ("forward", "backward", "optimizer")
#: What a tensor held at the peak of a training step is, as a report names it: the weights, buffers,
#: optimizer state and network input held throughout; a layer's output (`activation`), what a layer
#: keeps only for its backward (`saved`: indices, masks, im2col columns), the gradient of a layer's
#: output, a layer's weights' gradient, and the temporaries of what runs at the peak (`workspace`).
HELD_ROLES = (
    "weights",
    "buffers",
    "optimizer_state",
    "input",
    "activation",
    "saved",
    "gradient",
    "weight_gradient",
    "workspace",
)
#: Roles of the tensors held throughout the step, never a layer's.
RESIDENT_ROLES = HELD_ROLES[:4]
