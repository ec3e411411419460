"""Attacks that break sketches, usable against any sketchkit sketch they name.

Each returns an :class:`AttackResult` (queries spent, error relative to the guarantee,
success, trajectory, ``plot()``).
"""

from .cardinality import cardinality_attack
from .collisions import collision_attack, find_colliders, public_placement
from .f2 import f2_attack
from .median import median_attack
from .result import AttackResult
from .topk import topk_attack

__all__ = [
    "AttackResult",
    "collision_attack",
    "find_colliders",
    "public_placement",
    "median_attack",
    "f2_attack",
    "cardinality_attack",
    "topk_attack",
]
