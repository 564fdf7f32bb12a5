"""Training jobs shaped like the seed's headline runs (BLOOM, GPT-3, Meena), and their energy.

Each preset gives a model size, the accelerators it trained on, their board power, the
training time and the published energy (``../shared/CONTEXT.md``; Luccioni et al., "Estimating
the carbon footprint of BLOOM", JMLR 2023; Patterson et al., "Carbon emissions and large neural
network training", arXiv:2104.10350, 2021).  :func:`preset_job` turns one into a
:class:`~orbsched.workload.jobs.TrainingJob`:

* work = GPUs x hours (GPU-hours at the preset's accelerator, taken as the simulated hardware's
  nominal GPU-hour: ``hardware.gpu_speed`` rescales it);
* checkpoint = parameters x 16 bytes (Adam, mixed precision), gradient = parameters x 2 bytes
  (bf16), checkpoint write/read at 2 / 3.5 GB/s per GPU's share (a sharded checkpoint is
  written by every GPU at once: size / (GPUs x rate));
* ``step_s``: the published step time where tokens per step and tokens per second are known
  (BLOOM: 4.2 M tokens per step at ~36 k tokens/s = 116 s; GPT-3: 3.2 M tokens per step,
  300 B tokens in 14.8 days = 13.6 s), an ASSUMPTION otherwise (Meena: 10 s).

:func:`energy_comparison` puts a run's energy for the job beside the published total and what
a ground data centre would have drawn for the same work (GPU energy x PUE 1.3-1.4), and says
where the orbit's energy came from (the arrays directly, or the batteries).

SIMPLIFICATIONS: a preset's published energy includes the whole facility (Patterson: x PUE
1.1-1.6; BLOOM's total adds idle nodes and infrastructure), whereas the simulated GPU energy is
the accelerators' board power only; the comparison reports both and the ratio, not an
agreement test.  Meena's accelerator power is derived from its published energy (below).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..scenario.errors import WorkloadError
from ..scenario.workload_specs import (
    BYTES_PER_PARAM_ADAM,
    CHECKPOINT_INTERVAL_S,
    CHECKPOINT_READ_GB_S,
    CHECKPOINT_WRITE_GB_S,
    GRADIENT_BYTES_PER_PARAM,
)
from .jobs import TrainingJob

__all__ = ["Preset", "PRESETS", "preset_job", "energy_comparison", "GROUND_PUE_RANGE"]

#: Ground data-centre PUE range (CONTEXT.md: 30-40 % of the power to cooling, PUE 1.3-1.4).
GROUND_PUE_RANGE = (1.3, 1.4)


@dataclass(frozen=True)
class Preset:
    name: str
    params: float          # parameters
    gpus: int              # accelerators
    gpu_power_w: float     # board power per accelerator
    hours: float           # wall-clock training time
    energy_kwh: float      # published training energy
    step_s: float          # compute time of one step on all the accelerators
    source: str

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.hours

    @property
    def board_energy_kwh(self) -> float:
        """Accelerators at board power for the whole run (no facility overhead)."""
        return self.gpus * self.gpu_power_w * self.hours / 1000.0


PRESETS = {
    # BLOOM-176B: 384 A100 80 GB at 400 W, 1,082,990 GPU-hours (= 2,820 h on 384), CONTEXT.md:
    # 0.79 GWh (794,855 kWh).  366 B tokens / (2,820 h) = 36 k tokens/s; 2,048 x 2,048 tokens
    # per step -> 116 s per step.
    "bloom": Preset("bloom", 176e9, 384, 400.0, 2820.0, 794_855.0, 116.0,
                    "Luccioni et al. JMLR 2023; CONTEXT.md"),
    # GPT-3 175B: 10,000 V100 at 300 W, 14.8 days (Patterson et al. 2021 Table 4), 1,287 MWh
    # (CONTEXT.md).  3.2 M tokens per step, 300 B tokens -> 13.6 s per step.
    "gpt3": Preset("gpt3", 175e9, 10_000, 300.0, 14.8 * 24, 1_287_000.0, 13.6,
                   "Patterson et al. arXiv:2104.10350; CONTEXT.md"),
    # Meena 2.6B: 1,024 TPU v3 chips for 30 days, 232 MWh (Patterson et al. 2021; CONTEXT.md).
    # DERIVED: 232 MWh / (720 h x 1,024 chips x PUE 1.11) = 283 W per chip.  ASSUMPTION:
    # 10 s per step.
    "meena": Preset("meena", 2.6e9, 1024, 283.0, 720.0, 232_000.0, 10.0,
                    "Patterson et al. arXiv:2104.10350; CONTEXT.md"),
}


def preset_job(name: str, *, job_id: int = 0, arrival_s: float = 0.0, work_scale: float = 1.0,
               min_gpus_fraction: float = 1.0,
               checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
               gpus: int | None = None) -> TrainingJob:
    """A :class:`TrainingJob` shaped like preset ``name`` (module docstring).  ``work_scale``
    scales the work (e.g. 0.01 for a run of 1 % of the training); ``gpus`` overrides the
    accelerator count (the work in GPU-hours is kept)."""
    p = _get(name)
    g = p.gpus if gpus is None else int(gpus)
    if g < 1:
        raise WorkloadError(f"preset {name}: gpus must be >= 1, got {gpus!r}")
    if not work_scale > 0:
        raise WorkloadError(f"preset {name}: work_scale must be > 0, got {work_scale!r}")
    ckpt_gb = p.params * BYTES_PER_PARAM_ADAM / 1e9
    return TrainingJob(
        job_id=job_id, name=p.name, arrival_s=float(arrival_s), gpus=g,
        work_gpu_h=p.gpu_hours * work_scale, checkpoint_gb=ckpt_gb,
        checkpoint_interval_s=float(checkpoint_interval_s),
        checkpoint_s=ckpt_gb / (g * CHECKPOINT_WRITE_GB_S),
        restore_s=ckpt_gb / (g * CHECKPOINT_READ_GB_S),
        min_gpus=max(1, math.ceil(min_gpus_fraction * g - 1e-9)), source=f"preset:{p.name}",
        step_s=p.step_s * p.gpus / g,
        gradient_gb=p.params * GRADIENT_BYTES_PER_PARAM / 1e9)


def _get(name):
    try:
        return PRESETS[name]
    except KeyError:
        import difflib
        near = difflib.get_close_matches(str(name), list(PRESETS), n=1)
        raise WorkloadError(f"unknown preset {name!r}" + (f"; did you mean {near[0]!r}?"
                                                          if near else "")
                            + f" (presets: {', '.join(sorted(PRESETS))})") from None


def energy_comparison(name: str, *, work_done_gpu_h: float, gpu_energy_kwh: float,
                      from_array_kwh: float, from_battery_kwh: float,
                      elapsed_h: float) -> dict:
    """Scale a run's energy for ``work_done_gpu_h`` of preset ``name`` to the whole training
    and compare it with the published total and the ground.

    ``gpu_energy_kwh``: energy the job's GPUs drew in the run; ``from_array_kwh`` /
    ``from_battery_kwh``: the share of the satellites' load served by the arrays directly and
    by the batteries; ``elapsed_h``: the wall time the run took for that work."""
    p = _get(name)
    if not work_done_gpu_h > 0:
        raise WorkloadError(f"preset {name}: no work done, nothing to scale")
    k = p.gpu_hours / work_done_gpu_h
    orbit = gpu_energy_kwh * k
    battery_share = from_battery_kwh / max(from_array_kwh + from_battery_kwh, 1e-300)
    lo, hi = GROUND_PUE_RANGE
    return {
        "preset": p.name, "published_kwh": p.energy_kwh, "published_hours": p.hours,
        "board_energy_kwh": p.board_energy_kwh,
        "ground_kwh_pue_low": p.board_energy_kwh * lo,
        "ground_kwh_pue_high": p.board_energy_kwh * hi,
        "orbit_gpu_kwh": orbit,
        "orbit_from_array_kwh": orbit * (1.0 - battery_share),
        "orbit_from_battery_kwh": orbit * battery_share,
        "orbit_vs_published": orbit / p.energy_kwh,
        "projected_hours": elapsed_h * k,
        "scale": k,
    }
