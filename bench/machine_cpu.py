"""This machine's CPU from /proc/stat, for the benches: the lab hosts share its cores and kernel."""
import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, all, interrupts): ticks of every core since boot. Busy is all but idle and iowait;
    interrupts (irq and softirq, mostly the kernel's networking here) are part of busy."""
    with open("/proc/stat") as stat:
        # user nice system idle iowait irq softirq steal; guest time is already in user and nice.
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks), ticks[5] + ticks[6]
