"""bench/mx_throughput --cpu: the CPU ledger of a stage, from process times read before and after
its runs (pure arithmetic; the /proc readers are exercised on this machine's own processes)."""
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import mx_throughput  # noqa: E402
from mx_throughput import CLOCK_TICKS, CpuProfile  # noqa: E402


def ticks(milliseconds):
    return milliseconds * CLOCK_TICKS // 1000


@pytest.mark.parametrize("before, after, machine, load, expected", [
    # A process alive at both ends counts its difference; one started during the run counts whole;
    # one that exited is in the machine's total only (the rest).
    ({("1", "smtpd"): ticks(1000), ("2", "gone"): ticks(500)},
     {("1", "smtpd"): ticks(1500), ("3", "cleanup"): ticks(300)},
     (ticks(2000), ticks(400)), ticks(100),
     {"smtpd": 0.5, "cleanup": 0.3, "smtp-source (the load)": 0.1, "interrupts": 0.4, "rest": 0.7, "total": 2.0}),
    # Processes of the same name add up (every smtpd of the host).
    ({("1", "smtpd"): 0, ("2", "smtpd"): 0},
     {("1", "smtpd"): ticks(200), ("2", "smtpd"): ticks(300)},
     (ticks(500), 0), 0,
     {"smtpd": 0.5, "interrupts": 0.0, "rest": 0.0, "total": 0.5}),
])
def test_ledger_per_message(before, after, machine, load, expected):
    profile = CpuProfile()
    profile.add(before, after, machine, 1000, load)
    summary = profile.summary(top=10)
    assert summary.startswith(f"{expected.pop('total'):.2f} CPU-ms/msg on this machine: ")
    assert summary.endswith(f"exited ones) {expected.pop('rest'):.2f}")
    for name, milliseconds in expected.items():
        assert f"{name} {milliseconds:.2f}" in summary


def test_runs_add_up():
    profile = CpuProfile()
    for _ in range(3):
        profile.add({}, {("1", "clamd"): ticks(400)}, (ticks(1000), ticks(100)), 1000, 0)
    assert profile.messages == 3000
    assert profile.per_message(profile.by_name["clamd"]) == pytest.approx(0.4)
    assert profile.per_message(profile.busy) == pytest.approx(1.0)
    assert profile.per_message(profile.interrupts) == pytest.approx(0.1)


def test_readers_see_this_process():
    times = mx_throughput.process_times()
    assert any(pid == str(os.getpid()) for pid, _ in times)
    busy, available, interrupts = mx_throughput.machine_ticks()
    assert available > busy > interrupts >= 0
    assert mx_throughput.children_ticks() >= 0
