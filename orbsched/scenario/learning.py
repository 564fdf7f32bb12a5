"""The optional ``learning`` section: what a learning agent sees and is rewarded for.

Read only by :mod:`orbsched.gym` (the Gymnasium and PettingZoo environments); a run without
an agent ignores it, and a scenario without it writes no ``learning`` key (results of existing
scenarios are unchanged).  The environments' own options override these values.
"""
from __future__ import annotations

from pydantic import Field

from .schema_base import StrictModel

__all__ = ["LearningOptions", "RewardWeights"]


class _Strict(StrictModel):
    """Frozen, unknown keys rejected, numbers are numbers (no NaN, infinity or boolean)."""


class RewardWeights(_Strict):
    """Weights of the default reward (:class:`orbsched.gym.GoodputReward`), per GPU-hour:
    reward = ``completed`` x GPU-h of jobs completed since the last step - ``brownout`` x
    GPU-h lost to brownouts - ``radiation`` x GPU-h lost to radiation - ``failure`` x GPU-h
    lost to hardware failures - ``invalid`` x invalid actions (with ``on_invalid: keep``)."""

    completed: float = Field(1.0, ge=0, allow_inf_nan=False,
                             description="per GPU-h of completed jobs")
    brownout: float = Field(1.0, ge=0, allow_inf_nan=False,
                            description="per GPU-h lost to brownouts")
    radiation: float = Field(1.0, ge=0, allow_inf_nan=False,
                             description="per GPU-h lost to radiation (crashes, reboots)")
    failure: float = Field(0.0, ge=0, allow_inf_nan=False,
                           description="per GPU-h lost to GPU or satellite failures")
    invalid: float = Field(0.0, ge=0, allow_inf_nan=False,
                           description="per invalid action replaced by keep")


class LearningOptions(_Strict):
    """The ``learning`` section (module docstring)."""

    candidates: int = Field(8, ge=1, le=256,
                            description="candidate hosts shown in each observation")
    reward: RewardWeights = RewardWeights()
