"""When a training run counts as converged: the plateau rule (the paper's training schedules, as we
read them: sections 3 and 5, "the schedule" and "real-data schedule", and the later-version CNN of
section 7; the rule is the house's, issue 28: "convergence as a rule, not a guess").

The paper trains for fixed schedules of epochs and does not say whether its baselines had converged. The book
keeps every chapter's fixed budget of epochs and states one rule instead: **a run has converged when it
gained less than 0.2 points of accuracy over the last 20 % of its epochs** (:class:`PlateauRule`,
``window=0.2, tol=0.2``). A run that fails it is *budget-stopped*: the budget, not a plateau, ended it.

The rule decides nothing but that label. The budget is fixed in advance, every run trains all of its
epochs, and no training choice (epochs, learning rate, which model is kept) is made from the curve;
the curve is test accuracy, so letting it choose anything would be selection on test data.

A curve here is test accuracy in % after every epoch, **starting at epoch 0** (before the first
epoch of training, or right after an expansion): ``curve[e]`` is the accuracy after ``e`` epochs, so a
curve of ``E + 1`` values covers ``E`` epochs. Pass the mean over seeds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["PlateauRule"]


@dataclass(frozen=True)
class PlateauRule:
    """Converged iff ``curve[-1] - curve[-1 - k] < tol``, with ``k = max(1, ceil(window * epochs))``.

    Args:
        window: the fraction of the epochs at the end of the run that the gain is measured over (0 < window <= 1).
        tol: the largest gain over that window, in points of accuracy, that still counts as a plateau (> 0).
    """

    window: float = 0.2
    tol: float = 0.2

    def __post_init__(self):
        if isinstance(self.window, bool) or not isinstance(self.window, (int, float)) or not 0 < self.window <= 1:
            raise ValueError(f"window must be a number with 0 < window <= 1 (a fraction of the epochs), got {self.window!r}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not self.tol > 0:
            raise ValueError(f"tol must be a number > 0 (points of accuracy), got {self.tol!r}")

    def check(self, curve: Sequence[float]) -> dict:
        """Apply the rule to ``curve`` (accuracy in % after epochs 0, 1, ..., E; the mean over seeds).

        Returns ``{"met", "gain", "epochs", "window_epochs", "tol", "window"}``: ``gain`` is the
        accuracy gained over the last ``window_epochs`` of the ``epochs`` epochs (points), ``met``
        whether it is below ``tol``. Raises ``ValueError`` for a curve of fewer than two values (no epoch).
        """
        vals = [float(v) for v in curve]
        if len(vals) < 2:
            raise ValueError(f"curve must hold the accuracy after epochs 0 .. E with E >= 1 (two values or more), "
                             f"got {len(vals)} value(s)")
        if not all(math.isfinite(v) for v in vals):
            raise ValueError("curve must hold finite accuracies")
        epochs = len(vals) - 1
        k = max(1, math.ceil(self.window * epochs - 1e-9))  # 0.2 * 10 is 2, not 3 after float rounding
        gain = vals[-1] - vals[-1 - k]
        return {"met": bool(gain < self.tol), "gain": gain, "epochs": epochs, "window_epochs": k,
                "tol": float(self.tol), "window": float(self.window)}
