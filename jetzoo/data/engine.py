"""The generation engine: plan -> shards -> finalize, the same for every generator.

A generator (:class:`Generator`) is physics only: it plans its shards from its settings and seed,
simulates one shard into a file, and finalizes a folder whose planned shards are all there.
:func:`run` does the rest for every generator alike:

- the output folder is created and proven writable; crash leftovers (``.shard-*.tmp``) go;
- valid shards already there are kept (resume), the rest are simulated on a pool of worker
  processes (spawned, so no worker inherits torch or HDF5 state), one shard per job;
- one progress bar, fed by the workers through a queue read on a thread;
- with ``shard_index`` / ``num_shards`` (one task of an array job) only the task's round-robin
  share of the plan is simulated and a part manifest written (:mod:`jetzoo.data.parts`);
  ``jetzoo data merge`` (:mod:`jetzoo.data.merge`) later hands the joined folder to the same
  ``finalize`` that ends an unsplit run.

Every shard has its own seed, so the bytes of a shard do not depend on the number of workers or
tasks.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from jetzoo.data import parts
from jetzoo.data.schema import DataError
from jetzoo.data.shards import TEMP_GLOB

Progress = Callable[[int], None]


@dataclass(frozen=True)
class GeneratorInfo:
    """What the engine shows of a generator: its dataset ``format`` (part manifests record it,
    ``jetzoo data merge`` finds the generator by it), the progress bar's label and unit."""

    format: str
    description: str
    unit: str


@dataclass
class Simulated:
    """What a run (or the merged parts of one) simulated: the planned shards' manifest
    ``entries``, the ``stats`` of the shards simulated now, wall ``seconds`` and ``workers``."""

    entries: list[dict[str, Any]]
    stats: list[dict[str, Any]]
    seconds: float
    workers: int


@dataclass(frozen=True)
class Shard:
    """One unit of work: the shard ``file`` (relative to the dataset folder), its size in
    progress ``units`` (jets, events) and the generator's own ``key`` (class, index, seed)."""

    file: str
    units: int
    key: tuple[Any, ...] = ()


class Generator(Protocol):
    """The physics a generator brings; picklable (it travels to the worker processes)."""

    info: GeneratorInfo

    def plan(self) -> dict[str, Any]:
        """Everything that decides the run's shards (the parts of a split run share it)."""

    def shards(self) -> list[Shard]:
        """The planned shards, in their manifest order."""

    def check_folder(self, out: Path, shards: list[Shard], whole_run: bool) -> None:
        """Refuse a folder this run must not write into (raise DataError naming the file)."""

    def existing(self, out: Path, shard: Shard) -> dict[str, Any] | None:
        """The manifest entry of a valid shard already in ``out``; None to simulate it."""

    def simulate(self, out: Path, shard: Shard, progress: Progress | None) -> dict[str, Any]:
        """Simulate and write one shard atomically; returns ``{"entry": manifest entry,
        "stats": counters and timings}``."""

    def command(self, out: Path) -> str:
        """The command line that reproduces the run."""

    def finalize(self, out: Path, run: Simulated) -> dict[str, Any]:
        """The end of a run, once every planned shard is in ``out``: write the manifest (and
        whatever else needs every shard); returns the manifest."""


def prepare_output(out: Path) -> None:
    """Create ``out`` and prove it writable, else a DataError naming it; remove crash leftovers."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise DataError(f"{out}: output folder is not writable ({err})") from err
    for stale in out.rglob(TEMP_GLOB):
        stale.unlink(missing_ok=True)


_QUEUE: Any = None  # the progress queue, in a worker process


def _init_worker(queue: Any) -> None:
    global _QUEUE
    _QUEUE = queue


def _simulate(job: tuple[Generator, Path, Shard]) -> dict[str, Any]:
    gen, out, shard = job
    return gen.simulate(out, shard, _QUEUE.put if _QUEUE is not None else None)


def simulate_all(
    gen: Generator, out: Path, todo: list[Shard], workers: int, progress: bool = True
) -> list[dict[str, Any]]:
    """Simulate ``todo`` on ``workers`` processes (in this one for one worker) under one
    progress bar; returns the shards' results in ``todo`` order."""
    from tqdm import tqdm

    with tqdm(
        total=sum(s.units for s in todo),
        unit=gen.info.unit,
        desc=gen.info.description,
        disable=not progress or None,
        dynamic_ncols=True,
    ) as bar:
        if workers <= 1 or len(todo) <= 1:
            return [gen.simulate(out, s, bar.update) for s in todo]
        ctx = mp.get_context("spawn")  # no fork of a parent that may hold torch / HDF5 state
        queue = ctx.Queue()

        def drain() -> None:
            while (n := queue.get()) is not None:
                bar.update(n)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            with ctx.Pool(min(workers, len(todo)), _init_worker, (queue,)) as pool:
                return list(pool.imap(_simulate, [(gen, out, s) for s in todo]))
        finally:
            queue.put(None)
            reader.join()


def run(
    gen: Generator,
    out: str | Path,
    workers: int | None = None,
    progress: bool = True,
    shard_index: int | None = None,
    num_shards: int | None = None,
) -> dict[str, Any]:
    """Generate (or resume) ``gen``'s dataset in ``out``; returns the manifest, or with
    ``shard_index`` / ``num_shards`` the task's part (``{"part", "shards", "stats",
    "seconds"}``)."""
    parts.check_shard_args(shard_index, num_shards)
    out = Path(out)
    prepare_output(out)
    planned = gen.shards()
    whole_run = num_shards is None
    gen.check_folder(out, planned, whole_run)
    mine = planned if whole_run else parts.select(planned, int(shard_index), int(num_shards))
    entries = {s.file: e for s in mine if (e := gen.existing(out, s)) is not None}
    todo = [s for s in mine if s.file not in entries]
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    results = simulate_all(gen, out, todo, workers, progress)
    seconds = time.perf_counter() - t0
    for shard, result in zip(todo, results):
        entries[shard.file] = result["entry"]
    shard_list = [entries[s.file] for s in mine]
    stats = [r["stats"] for r in results]
    if whole_run:
        return gen.finalize(out, Simulated(shard_list, stats, seconds, workers))
    path = parts.write_part(
        out,
        gen.info.format,
        int(shard_index),
        int(num_shards),
        gen.plan(),
        shard_list,
        {"command": gen.command(out), "stats": stats, "seconds": seconds, "workers": workers},
    )
    return {"part": str(path), "shards": shard_list, "stats": stats, "seconds": seconds}
