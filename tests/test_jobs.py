"""JobRun: progress, checkpoints and finish times in closed form, against a step-by-step
reference."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsched.models.training import JobRun


def test_progress_and_saved_by_hand():
    r = JobRun(work_gpu_h=10.0, interval_s=600.0, checkpoint_s=60.0)
    r.start(100.0, 4 / 3600.0)                     # 4 GPUs, from t = 100 s
    assert r.progress_at(100.0) == 0.0
    assert r.progress_at(700.0) == pytest.approx(4 * 600 / 3600)
    assert r.progress_at(760.0) == pytest.approx(4 * 600 / 3600)   # checkpointing
    assert r.saved_at(759.0) == 0.0                                  # not yet complete
    assert r.saved_at(760.0) == pytest.approx(4 * 600 / 3600)
    assert r.progress_at(1000.0) == pytest.approx(4 * 840 / 3600)
    lost = r.stop_abrupt(1000.0)
    assert lost == pytest.approx(4 * 240 / 3600)
    assert r.saved_gpu_h == pytest.approx(4 * 600 / 3600)


def test_rate_change_mid_phase_keeps_checkpoint_contents():
    r = JobRun(work_gpu_h=10.0, interval_s=600.0, checkpoint_s=60.0)
    r.start(0.0, 1.0 / 3600.0)
    r.set_rate(300.0, 0.5 / 3600.0)                # throttled to half speed at 300 s
    # first checkpoint begins at 600 s holding 300 + 150 = 450 GPU-s
    assert r.saved_at(660.0) == pytest.approx(450 / 3600)
    assert r.progress_at(660.0) == pytest.approx(450 / 3600)
    r.set_rate(630.0, 1.0 / 3600.0)                # back to full speed during the checkpoint
    assert r.saved_at(700.0) == pytest.approx(450 / 3600)
    assert r.progress_at(700.0) == pytest.approx((450 + 40) / 3600)
    # second checkpoint begins at 1,260 s
    assert r.saved_at(1320.0) == pytest.approx((450 + 600) / 3600)


@settings(max_examples=200, deadline=None)
@given(interval=st.one_of(st.just(math.inf), st.floats(10.0, 5000.0)),
       ckpt=st.floats(0.0, 300.0), work=st.floats(0.01, 50.0), gpus=st.integers(1, 8),
       t0=st.floats(0.0, 1e5), t_query=st.floats(0.0, 1e5))
def test_finish_time_inverts_progress(interval, ckpt, work, gpus, t0, t_query):
    r = JobRun(work_gpu_h=work, interval_s=interval, checkpoint_s=ckpt)
    rate = gpus / 3600.0
    r.start(t0, rate)
    tq = t0 + t_query
    tf = r.finish_time(tq)
    if r.progress_at(tq) >= work:
        assert tf == tq
        return
    assert tf > tq
    assert r.progress_at(tf) == pytest.approx(work, rel=1e-9)
    # just before the finish the job is not done (progress strictly below the work)
    before = max(tq, tf - 1e-3 * max(1.0, tf - tq))
    assert r.progress_at(before) < work
    # compute time needed equals the work / rate: wall time >= it
    assert tf - t0 >= work / rate * (1 - 1e-12)
    # saved never exceeds progress
    assert r.saved_at(tf) <= r.progress_at(tf) + 1e-12
