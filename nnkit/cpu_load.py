"""How many of this process's cores other processes keep busy: a cheap probe for the thread policy.

Between two readings, the busy time of the cores this process may run on
(``/proc/stat``: everything but idle and iowait, the hypervisor's steal
included) minus this process's own CPU time (``time.process_time``, all its
threads, spinning OpenMP workers too) is what the rest of the machine used;
divided by the wall time, it is a number of cores.  ``/proc/stat`` counts in
clock ticks (10 ms), so a reading over 0.2 s on two cores is good to about a
tenth of a core.  Linux only; elsewhere ``others_busy`` is None.
"""
import os
import time

__all__ = ["LoadProbe"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def _busy_ticks(cpus):
    """Busy clock ticks summed over ``cpus`` (a set of CPU numbers) since boot, or None without /proc/stat."""
    try:
        with open("/proc/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    total = 0
    for line in text.split(b"\n")[1:]:
        if not line.startswith(b"cpu"):
            break
        name, *fields = line.split()
        if int(name[3:]) in cpus:
            ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks) - ticks[3] - ticks[4]
    return total


class LoadProbe:
    """``others_busy()``: cores other processes used since the previous reading (None at the first one)."""

    def __init__(self, cpus=None):
        if cpus is None:
            cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        self.cpus = set(cpus)
        self.last = None

    def reading(self):
        ticks = _busy_ticks(self.cpus)
        return None if ticks is None else (time.monotonic(), ticks * _TICK_S, time.process_time())

    def reset(self):
        self.last = self.reading()

    def others_busy(self):
        now = self.reading()
        last, self.last = self.last, now
        if now is None or last is None or now[0] <= last[0]:
            return None
        wall, busy, own = (a - b for a, b in zip(now, last))
        return max(0.0, (busy - own) / wall)
