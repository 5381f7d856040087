"""The thread budget: how a rank's CPU cores are shared between the detector and the decode workers.

On CPU, torch's intra-op threads and the decode worker processes compete for the same
cores; left alone, each worker also starts one intra-op thread per core, so a 2-core
machine runs ``2 + 2 x workers`` busy threads and the forward pass loses time to context
switches.  ``runtime.threads`` (knob: ``'auto'``, the default; ``'off'``; or a number)
decides it per rank, from the physical cores this process may use (its CPU affinity, without
hyper-thread siblings) divided by the ranks on the node (``LOCAL_WORLD_SIZE`` under
``torchrun``, which would otherwise leave every rank one thread, ``OMP_NUM_THREADS=1``):

* detector in the main process (torch detectors such as YOLO): torch gets every physical
  core of the rank (usually torch's own default, so a single process computes as without the
  budget); decode workers run with one intra-op thread each at a lower priority (``nice``
  +10), so they decode mostly in the cycles the forward pass leaves free (its
  single-threaded pre- and post-processing, the gaps between batches) and rarely preempt it:
  an intra-op thread that loses its core stalls the whole forward pass at the next barrier.
  Decoding is a few per cent of a torch detector's work, so a core set aside for it would
  cost more than it saves on small machines;
* detector in the workers (``parallel_safe`` detectors such as saliency): each worker gets
  ``cores // num_workers`` intra-op threads (at least one), the main process one;
* a number ``N``: the process that runs the detector uses ``N`` torch threads, workers one,
  no priority change; ``'off'``: nothing is changed (the behaviour before the budget).

The thread count never changes which images a run processes, but torch's CPU kernels may
round differently with another count (yolo11n's raw outputs differ by up to 3e-5 between 1
and 2 threads; saliency is numpy and unaffected): for byte-identical files from a torch
detector on CPU across runs with different rank counts, set ``threads`` to the same number
in each.

Only libraries already loaded are touched: torch is never imported just to set its threads,
and a run gives the main process's torch threads back when it ends.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

__all__ = ["ThreadPlan", "available_cores", "plan_threads", "apply_main", "restore_main", "torch_threads",
           "apply_worker", "DECODE_NICE"]

#: the ``nice`` increment of decode-only workers (they yield to the detector's threads)
DECODE_NICE = 10
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class ThreadPlan:
    """What :func:`plan_threads` decided; ``None`` means "leave as it is"."""

    cores: int
    main_threads: int | None
    worker_threads: int | None
    worker_nice: int = 0

    def describe(self) -> str:
        if self.main_threads is None and self.worker_threads is None:
            return "thread budget off"
        parts = [f"{self.cores} core(s)", f"main process {self.main_threads} torch thread(s)"]
        if self.worker_threads is not None:
            parts.append(f"workers {self.worker_threads} thread(s) each" + (f", nice +{self.worker_nice}"
                                                                             if self.worker_nice else ""))
        return ", ".join(parts)


def _physical_cores(cpus: set[int]) -> int:
    """How many physical cores the logical CPUs ``cpus`` make up (Linux topology files; else ``len(cpus)``).

    Hyper-threads share a core's arithmetic units: torch's default (one intra-op thread per
    physical core) is faster than one per logical CPU, so the budget never counts a sibling.
    """
    cores = set()
    for cpu in cpus:
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{topology}/physical_package_id", encoding="ascii") as fh:
                package = fh.read().strip()
            with open(f"{topology}/core_id", encoding="ascii") as fh:
                core = fh.read().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return len(cores) or len(cpus)


def available_cores(local_world_size: int = 1) -> int:
    """The physical cores this process may run on (its affinity), shared among ``local_world_size`` ranks
    (at least 1)."""
    try:
        cores = _physical_cores(set(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, local_world_size))


def plan_threads(setting: int | str, *, num_workers: int, detects_in_workers: bool,
                 local_world_size: int = 1) -> ThreadPlan:
    """The budget for one rank (see the module docstring); ``setting`` is ``runtime.threads``."""
    cores = available_cores(local_world_size)
    if setting == "off":
        return ThreadPlan(cores, None, None)
    if isinstance(setting, int) and not isinstance(setting, bool):
        if detects_in_workers:
            return ThreadPlan(cores, 1, setting)
        return ThreadPlan(cores, setting, 1 if num_workers else None)
    if detects_in_workers:
        return ThreadPlan(cores, 1, max(1, cores // max(1, num_workers)))
    if not num_workers:
        return ThreadPlan(cores, cores, None)
    return ThreadPlan(cores, cores, 1, DECODE_NICE)


def torch_threads() -> int | None:
    """torch's intra-op threads in this process, ``None`` if torch is not loaded."""
    torch = sys.modules.get("torch")
    get_threads = getattr(torch, "get_num_threads", None)
    return int(get_threads()) if callable(get_threads) else None


def _set_torch_threads(n: int) -> None:
    torch = sys.modules.get("torch")
    set_threads = getattr(torch, "set_num_threads", None)
    if callable(set_threads) and torch is not None and torch.get_num_threads() != n:
        set_threads(n)


def apply_main(plan: ThreadPlan) -> None:
    """Apply the main process's share (torch only if it is already loaded)."""
    if plan.main_threads is not None:
        _set_torch_threads(plan.main_threads)


def restore_main(threads: int | None) -> None:
    """Give torch back the thread count :func:`torch_threads` read before a run (``None``: nothing to do)."""
    if threads is not None:
        _set_torch_threads(threads)


def apply_worker(plan: ThreadPlan | None) -> None:
    """Apply a worker's share, in the worker, before it builds a detector."""
    if plan is None:
        return
    if plan.worker_threads is not None:
        for var in _THREAD_VARS:  # libraries loaded later (a detector built in the worker) read these
            os.environ[var] = str(plan.worker_threads)
        _set_torch_threads(plan.worker_threads)
    if plan.worker_nice:
        _lower_priority(plan.worker_nice)


def _lower_priority(nice: int) -> None:
    """``nice`` this process; never fails (the budget is advice, not a requirement).

    Not ``SCHED_IDLE``: on a machine shared with other jobs, idle-class workers would get no
    cycles at all and starve the detector of decoded images.
    """
    with contextlib.suppress(OSError):
        os.nice(nice)
