"""Learning-augmented frequency sketches: an oracle predicts heavy items, they get exact counters.

* Oracles (:mod:`.oracles`): :class:`LookupOracle`, :class:`NgramOracle` (log-count MSE or coverage
  objective), :class:`HybridOracle`, :class:`RandomOracle`; :class:`GBMOracle` (:mod:`.gbm`, boosted trees on the
  item's spelling); :class:`KeySetOracle` (a lookup reduced to membership, what a sketch holds).
* Sketches (:mod:`.sketches`, :mod:`.cspp`): :class:`LearnedCountMin`, :class:`LearnedCountSketch`,
  :class:`CountSketchPlusPlus`, :class:`LearnedCountSketchPlusPlus`.
* :func:`tune` (depth and heavy share on validation), metrics (:mod:`.metrics`).

The command line's glue lives in :mod:`sketchkit._cli.learned`; the benchmark's dataset loaders
in ``benchmarks/_learned_data.py``.

Family ids 20–27 (20 LearnedCountMin, 21 LearnedCountSketch, 22 CountSketchPlusPlus, 23–26
oracles, 27 LearnedCountSketchPlusPlus, 28 GBMOracle, 29 KeySetOracle); hash domain 5.
"""

from .cspp import CountSketchPlusPlus
from .gbm import GBMOracle
from .metrics import coverage, heavy_hitter_pr, loss_hsu, loss_unweighted, loss_weighted_aamand
from .oracles import HybridOracle, KeySetOracle, LookupOracle, NgramOracle, Oracle, RandomOracle
from .sketches import LearnedCountMin, LearnedCountSketch, LearnedCountSketchPlusPlus
from .tuner import TunedConfig, tune

__all__ = [
    "Oracle",
    "LookupOracle",
    "NgramOracle",
    "HybridOracle",
    "RandomOracle",
    "KeySetOracle",
    "GBMOracle",
    "LearnedCountMin",
    "LearnedCountSketch",
    "LearnedCountSketchPlusPlus",
    "CountSketchPlusPlus",
    "tune",
    "TunedConfig",
    "loss_hsu",
    "loss_unweighted",
    "loss_weighted_aamand",
    "coverage",
    "heavy_hitter_pr",
]
