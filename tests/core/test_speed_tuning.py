"""The core's part of each backend running at its best: thread count, per-mode padding, --xla notes."""

from __future__ import annotations

import os

from glue_cli.api import COMPILED_PADDING, BackendBase, Padding, physical_cores
from glue_cli.training.backends import batch_padding, compiles, xla_note


def cpuinfo(tmp_path, cores: list[tuple[int, int]]):
    """A /proc/cpuinfo listing one processor per (physical id, core id)."""
    blocks = [f"processor\t: {i}\nphysical id\t: {p}\ncore id\t\t: {c}\nflags\t\t: fpu avx2\n"
              for i, (p, c) in enumerate(cores)]
    path = tmp_path / "cpuinfo"
    path.write_text("\n".join(blocks))
    return path


def test_physical_cores_counts_one_thread_per_core_of_the_cpus_this_process_may_use(tmp_path):
    usable = len(os.sched_getaffinity(0))
    assert physical_cores(cpuinfo(tmp_path, [(0, i) for i in range(usable)])) == usable
    # Two hyper-threads per core: half the usable CPUs, never fewer than one.
    assert physical_cores(cpuinfo(tmp_path, [(0, i // 2) for i in range(2 * usable)])) == max(1, usable // 2)
    assert physical_cores(tmp_path / "missing") == usable  # layout unknown: every CPU


def test_padding_per_mode_is_optional_for_a_backend():
    class Plain:  # the protocol's attributes only: the same padding with --xla and without
        name, framework, pad_multiple, fixed_batch_rows = "plain", "torch", 16, True

    assert batch_padding(Plain(), False) == batch_padding(Plain(), True) == Padding(16, True)
    assert xla_note(Plain()) is None

    class Base(BackendBase):
        name, framework = "base", "torch"

        def create(self, spec):
            raise NotImplementedError

    assert batch_padding(Base(), True) == Padding(8, False)  # BackendBase's class attributes
    assert xla_note(Base()) is None

    class Modal(Base):
        def padding(self, xla, device=None):
            return COMPILED_PADDING if xla else Padding(1)

    assert batch_padding(Modal(), False) == Padding(1) and batch_padding(Modal(), True) == COMPILED_PADDING
    assert COMPILED_PADDING.shapes(128) == 32 and Padding(1).shapes(7) == 7


def test_the_core_decides_once_whether_xla_compiles_and_pads_for_that_engine():
    """A backend's optional ``xla_runs(device)`` turns --xla off where compiling is slower: the core
    builds that engine with ``ModelSpec.xla`` False and asks ``padding`` about it, not the backend twice."""

    class Plain:  # no xla_runs: compiling follows the flag
        name, framework, pad_multiple, fixed_batch_rows = "plain", "torch", 16, True

    assert compiles(Plain(), True) and not compiles(Plain(), False)

    class Switchable(BackendBase):
        name, framework = "switchable", "torch"
        asked: list[bool] = []

        def devices(self):
            return ["gpu:0", "cpu"]

        def xla_runs(self, device=None):
            return (device or self.devices()[0]).startswith("gpu")

        def padding(self, xla, device=None):
            self.asked.append(xla)
            return COMPILED_PADDING if xla else Padding(1)

        def create(self, spec):
            raise NotImplementedError

    b = Switchable()
    assert compiles(b, True) and not compiles(b, True, "cpu") and not compiles(b, False, "gpu:0")
    assert batch_padding(b, True) == COMPILED_PADDING and b.asked == [True]

    class CpuOnly(Switchable):
        def devices(self):
            return ["cpu"]

    off = CpuOnly()
    off.asked = []
    assert not compiles(off, True) and batch_padding(off, True) == Padding(1) and off.asked == [False]
    # Without an xla_note of its own, --xla's warning and `glue backends` still say it is off.
    assert xla_note(off) == "off on cpu for switchable: its steps run without compiling"
    assert xla_note(b) is None

    class Default(BackendBase):  # BackendBase: compiling follows the flag
        name, framework = "default", "torch"

        def create(self, spec):
            raise NotImplementedError

    assert Default().xla_runs() and compiles(Default(), True)
