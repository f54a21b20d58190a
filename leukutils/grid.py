"""The run grid: one papermill job per (notebook, seed), one after another or on a Dask cluster.

``leukutils reproduce --seeds 0,1,2`` runs every (notebook, seed) pair here, one after another;
``--cluster local:N`` submits them to a new local Dask cluster of N worker processes, and
``--scheduler tcp://HOST:8786`` to a running one (several machines, a batch queue through
dask-jobqueue, one worker per GPU through dask-cuda; README § Seeds). Each notebook is independent of
the others, so each pair is its own job. A grid run is laid out as::

    runs/<profile>-<stamp>/
        seed-<k>/notebooks/NN_*.ipynb   the executed notebooks of seed k
        seed-<k>/logs/NN_*.log          their cell output
        seed-<k>/figures/  tables/  models/
        seed-<k>/done/NN_*.json         written when a job succeeded: its parameters, time, outputs
        tables/seeds/<id>_<slug>.csv    tables aggregated over seeds (:mod:`leukutils.seeds`)
        summary.csv                     one row per job

Failures: a cell that raises fails its job (status ``FAILED``, its log kept) and never stops the
others; it is not retried, as it would fail again. A job whose kernel died (killed for memory, a
crash) raises :class:`JobLost`, and Dask runs it once more (``retries=1``). A job whose *worker* died
is submitted once more by the runner, to a free worker, and reported as failed if it is lost again
(the local clusters made here hand a lost job back at once, ``allowed-failures = 0``; a scheduler
started elsewhere first reschedules it itself, up to its own ``allowed-failures``, 3 by default).
Resuming a run folder (``--resume``) skips every job whose ``done/`` record is there, so finished
jobs never run twice.

Threads: on Dask, each job's kernel gets its worker's share of the machine's cores, ``cores //
(job slots on the machine)``, where a worker of ``nthreads`` threads holds ``nthreads`` slots; it is
set as ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` (read by torch when the kernel starts) and as the
notebook's ``threads`` parameter where it has one, unless ``-p threads`` is given. Run here, one
after another, the notebooks keep their own thread counts unless ``threads`` is given.

Dask is imported only on the Dask path: the default runner never needs it.
"""
from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from . import config, parameters, run
from .report import atomic_write_bytes
from .seeds import aggregate_run

#: Folder of a seed's jobs inside a grid run: ``seed-<k>``.
SEED_FOLDER = "seed-{seed}"
#: Folder (inside a seed's folder) of the records written when a job succeeded.
DONE_FOLDER = "done"


class JobLost(RuntimeError):
    """A job's kernel died before the notebook finished (killed for memory, a crash); Dask retries it."""


class ResumeMismatch(ValueError):
    """The resumed run folder holds a finished job run with other parameters than those asked now."""


@dataclass(frozen=True)
class Job:
    """One execution of one notebook with one seed.

    Attributes
    ----------
    notebook : the source notebook.
    seed : the value of its ``seed`` parameter.
    parameters : what papermill injects (``seed`` and ``output_dir`` included), checked against the
        notebook's parameters cell when the job was planned.
    folder : the seed's folder, ``<run>/seed-<k>``.
    profile : the profile the parameters come from.
    kernel : Jupyter kernel name.
    threads : CPU threads for the kernel (``OMP_NUM_THREADS``, and the ``threads`` parameter when
        ``threads_parameter``); None leaves the notebook's own setting.
    threads_parameter : whether ``threads`` is passed as the notebook's parameter (it has one and it
        was not given with ``-p``).
    """

    notebook: Path
    seed: int
    parameters: dict
    folder: Path
    profile: str = config.DEFAULT_PROFILE
    kernel: str = run.KERNEL
    threads: int | None = None
    threads_parameter: bool = False

    @property
    def executed(self) -> Path:
        return self.folder / "notebooks" / self.notebook.name

    @property
    def log(self) -> Path:
        return self.folder / "logs" / f"{self.notebook.stem}.log"

    @property
    def record(self) -> Path:
        return self.folder / DONE_FOLDER / f"{self.notebook.stem}.json"


def parse_seeds(items: Iterable[str | int]) -> list[int]:
    """Seeds from the command line: ``["0,1", "5-7"]`` → ``[0, 1, 5, 6, 7]`` (order kept, repeats dropped)."""
    seeds: list[int] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            match = re.fullmatch(r"(\d+)-(\d+)", part)
            if match:
                values = list(range(int(match[1]), int(match[2]) + 1))
            elif part.isdigit():
                values = [int(part)]
            else:
                raise ValueError(f"seeds are non-negative integers or ranges like 0-4, not {part!r}")
            seeds.extend(v for v in values if v not in seeds)
    if not seeds:
        raise ValueError("no seed given")
    return seeds


def parse_cluster(cluster: str) -> int:
    """Worker count of a local cluster: ``"local:4"`` → 4; ``"local"`` → one worker per available core."""
    match = re.fullmatch(r"local(?::(\d+))?", cluster.strip())
    if not match or match[1] == "0":
        raise ValueError(f"--cluster takes local:N (N worker processes on this machine), not {cluster!r}; "
                         "use --scheduler tcp://HOST:8786 for a cluster started elsewhere")
    return int(match[1]) if match[1] else available_cores()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity: a batch job's allocation, a container's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def seed_folder(run_dir: str | os.PathLike, seed: int) -> Path:
    """``<run_dir>/seed-<seed>``: where the jobs of one seed write."""
    return Path(run_dir) / SEED_FOLDER.format(seed=seed)


def plan_jobs(notebooks: Sequence[Path], seeds: Sequence[int], run_dir: Path, profile: str = config.DEFAULT_PROFILE,
              params: dict[str, Any] | None = None, data_dir: str | None = None, device: str = "auto",
              kernel: str = run.KERNEL, threads: int | None = None) -> list[Job]:
    """One job per seed and notebook, seed by seed, notebooks in order.

    Every job's parameters are checked against its notebook (names, types, ranges) before anything runs
    (see :func:`leukutils.parameters.injected_parameters`); ``params`` may not hold ``seed``.

    Parameters
    ----------
    notebooks : the notebooks to run.
    seeds : the values of their ``seed`` parameter, one job per seed and notebook.
    run_dir : the grid's run folder; seed k's jobs write in ``<run_dir>/seed-<k>``.
    profile, params, data_dir, device, kernel : as in :func:`leukutils.run.reproduce`.
    threads : CPU threads per job (None: the notebook's own setting, or a Dask worker's share).

    Returns
    -------
    list of :class:`Job`, seed by seed, notebooks in order.
    """
    params = dict(params or {})
    if "seed" in params:
        raise ValueError("a grid run sets each job's seed from its list of seeds; give them with --seeds, not -p seed")
    names = {notebook: parameters.notebook_defaults(notebook) for notebook in notebooks}
    jobs = []
    for seed in seeds:
        folder = seed_folder(run_dir, seed)
        given = {**parameters.standard_parameters(profile, device, data_dir, folder), **params, "seed": seed}
        for notebook in notebooks:
            jobs.append(Job(notebook, seed, parameters.injected_parameters(notebook, profile, given), folder, profile,
                            kernel, threads, "threads" in names[notebook] and "threads" not in params))
    return jobs


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as they read back from JSON (tuples as lists), so that records compare equal."""
    return json.loads(json.dumps(values, default=str))


def finished(job: Job) -> bool:
    """Whether ``job`` ran to its end before: its ``done/`` record and executed notebook are there.

    Raises :class:`ResumeMismatch` when the record holds other parameters than the job's.
    """
    if not job.record.is_file():
        return False
    recorded, asked = json.loads(job.record.read_text()).get("parameters", {}), _plain(job.parameters)
    differ = sorted(name for name in {*recorded, *asked} if recorded.get(name) != asked.get(name))
    if differ:
        raise ResumeMismatch(f"{job.record} records a run with other parameters than those asked now ("
                             + ", ".join(f"{name}: {recorded.get(name)!r} then, {asked.get(name)!r} now" for name in differ)
                             + "); resume with the command that started the run, or start a new run")
    return job.executed.is_file()


def _row(job: Job, seconds: float, status: str, outputs: int = 0, error: str = "") -> dict[str, Any]:
    return {"notebook": job.notebook.name, "seed": job.seed, "profile": job.profile, "seconds": round(seconds, 1),
            "status": status, "outputs": outputs, "executed": str(job.executed), "log": str(job.log),
            "error": error}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of a block."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_job(job: Job) -> dict[str, Any]:
    """Execute one job and return its summary row; after success, write its ``done/`` record.

    A cell that raises gives status ``FAILED`` (the error in the row, the log kept); a kernel that
    died raises :class:`JobLost`, which Dask answers by running the job again.
    """
    from nbclient.exceptions import DeadKernelError

    injected = dict(job.parameters)
    environment: dict[str, str] = {}
    if job.threads:
        environment = {"OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads)}
        if job.threads_parameter:
            injected["threads"] = job.threads
    start = time.time()
    try:
        with _environment(environment):
            run.execute(job.notebook, job.executed, injected, job.log, job.kernel)
    except run.NotebookFailed as failure:
        if isinstance(failure.__cause__, DeadKernelError):
            raise JobLost(f"{job.notebook.name}, seed {job.seed}: the kernel died (log at {job.log})") from None
        detail = str(failure).splitlines()
        return _row(job, time.time() - start, "FAILED", error="\n".join(detail[1:]) or detail[0])
    run._relative_papermill_paths(job.executed)
    seconds = time.time() - start
    outputs = run._count_outputs([job.folder / "figures", job.folder / "tables"], start)
    record = {"notebook": job.notebook.name, "seed": job.seed, "profile": job.profile,
              "parameters": _plain(job.parameters), "threads": job.threads, "seconds": round(seconds, 1),
              "outputs": outputs, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_bytes(job.record, (json.dumps(record, indent=1) + "\n").encode())
    return _row(job, seconds, "ok", outputs)


def _done_row(job: Job) -> dict[str, Any]:
    recorded = json.loads(job.record.read_text())
    return _row(job, recorded.get("seconds", 0.0), "done before", recorded.get("outputs", 0))


def _failed_row(job: Job, error: BaseException) -> dict[str, Any]:
    from distributed import KilledWorker  # only reached on the Dask path

    if isinstance(error, KilledWorker):
        why = f"its worker died on both attempts ({error})"
    else:
        why = f"{type(error).__name__}: {error}"
    return _row(job, 0.0, "FAILED", error=why)


# ----------------------------------------------------------------------------------------------- Dask


def job_slots(client) -> dict[str, int]:
    """Jobs that can run at once on each machine of a Dask cluster: host → sum of its workers' threads."""
    from distributed.comm import get_address_host

    slots: dict[str, int] = {}
    for address, nthreads in client.nthreads().items():
        host = get_address_host(address)
        slots[host] = slots.get(host, 0) + int(nthreads)
    return slots


def run_on_worker(job: Job, slots: dict[str, int]) -> dict[str, Any]:
    """:func:`run_job` on a Dask worker, with the worker's share of its machine's cores as threads.

    The share is ``available_cores() // slots[host]`` (at least 1); a host missing from ``slots`` (a
    worker that joined later) counts its own threads. The variables are set for the worker process as
    a whole, so that jobs running side by side on one worker agree on them.
    """
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    here = slots.get(get_address_host(worker.address)) or worker.state.nthreads
    threads = job.threads or max(1, available_cores() // max(1, here))
    os.environ.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), config.PROGRESS_ENV: "off"})
    return run_job(replace(job, threads=threads))


@contextmanager
def dask_client(cluster: str | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client on a new local cluster (``cluster="local:N"``) or on a running scheduler.

    The local cluster has N worker processes of one thread each; its scheduler gives up on a job at
    the first death of its worker (``distributed.scheduler.allowed-failures = 0``), so that
    :func:`run_jobs_on_dask` decides where the job runs again. Both are closed when the block ends.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    workers = parse_cluster(cluster or "local")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    with local, Client(local) as client:
        yield client


def run_jobs_on_dask(jobs: Sequence[Job], client, progress: bool = True, desc: str = "jobs") -> list[dict[str, Any]]:
    """Submit the jobs and collect their rows as they finish, with a progress bar.

    No more jobs are in flight than the cluster has job slots: a job is submitted when a slot is free,
    so that none waits in the queue of a busy worker and a worker that dies takes only its running job
    with it. That job is submitted once more (to a free slot, as any other); lost again, it is reported
    as failed. A job that raised (:class:`JobLost`: its kernel died) is run again by Dask
    (``retries=1``).
    """
    from distributed import KilledWorker, as_completed

    if not jobs:
        return []
    client.wait_for_workers(1, timeout=600)
    pending = list(enumerate(jobs))
    lost: set[int] = set()
    futures: dict[Any, tuple[int, Job]] = {}
    finished_jobs = as_completed()

    def submit_while_slots_are_free() -> None:
        slots = job_slots(client)
        while pending and len(futures) < max(1, sum(slots.values())):
            index, job = pending.pop(0)
            future = client.submit(run_on_worker, job, slots, retries=1, pure=False,
                                   key=f"{job.notebook.stem}-seed-{job.seed}-{os.urandom(4).hex()}")
            futures[future] = (index, job)
            finished_jobs.add(future)

    rows = []
    bar = config.progress_bar(total=len(jobs), enabled=progress, desc=desc, unit="job")
    submit_while_slots_are_free()
    for future in finished_jobs:
        index, job = futures.pop(future)
        try:
            rows.append(future.result())
        except KilledWorker as error:
            if index not in lost:  # its worker died: once more, on a free slot
                lost.add(index)
                pending.insert(0, (index, job))
                bar.set_postfix_str(f"{job.notebook.stem} seed {job.seed}: worker lost, submitted again")
                submit_while_slots_are_free()
                continue
            rows.append(_failed_row(job, error))
        except Exception as error:  # raised on both attempts: its row says why
            rows.append(_failed_row(job, error))
        future.release()
        bar.set_postfix_str(f"{job.notebook.stem} seed {job.seed}")
        bar.update(1)
        submit_while_slots_are_free()
    bar.close()
    return rows


def run_jobs_here(jobs: Sequence[Job], progress: bool = True, desc: str = "jobs") -> list[dict[str, Any]]:
    """Run the jobs one after another in this process, with a progress bar."""
    rows = []
    bar = config.progress_bar(jobs, enabled=progress, desc=desc, unit="job")
    for job in bar:
        bar.set_postfix_str(f"{job.notebook.stem} seed {job.seed}")
        try:
            rows.append(run_job(job))
        except JobLost as error:
            rows.append(_row(job, 0.0, "FAILED", error=str(error)))
    return rows


def reproduce_seeds(seeds: Sequence[int], profile: str = config.DEFAULT_PROFILE, only: Iterable[str] | None = None,
                    params: dict[str, Any] | None = None, data_dir: str | None = None, device: str = "auto",
                    output_root: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
                    cluster: str | None = None, scheduler: str | None = None, client=None,
                    threads: int | None = None, kernel: str = run.KERNEL, progress: bool = True,
                    aggregate: bool = True) -> pd.DataFrame:
    """Run the notebooks once per seed into a run folder; return the summary, one row per job.

    Parameters
    ----------
    seeds : the values of each notebook's ``seed`` parameter.
    profile, only, params, data_dir, device, kernel : as in :func:`leukutils.run.reproduce`.
    output_root : folder of the new run folder ``<profile>-<stamp>/`` (``runs/`` by default).
    resume : an existing run folder to complete instead: jobs with a ``done/`` record are skipped
        (a record with other parameters is an error, raised before anything runs).
    cluster, scheduler, client : where to run: ``"local:N"`` (a new local Dask cluster), a scheduler
        address, or a Dask client made by the caller (a dask-jobqueue or dask-cuda cluster); none of
        them: here, one job after another, without Dask.
    threads : CPU threads per job; by default a Dask worker's share of its machine's cores, and the
        notebooks' own setting when run here.
    aggregate : write the tables aggregated over seeds to ``<run>/tables/seeds/`` (:mod:`leukutils.seeds`).

    Returns
    -------
    DataFrame with columns notebook, seed, profile, seconds, status (``ok``, ``done before``,
    ``FAILED``), outputs, executed, log, error; also written to ``<run>/summary.csv``. Its
    ``attrs["run_dir"]`` is the run folder. ``outputs`` counts the files that the seed's ``figures/``
    and ``tables/`` received while the job ran (jobs of one seed running side by side on a cluster
    count each other's too).
    """
    parameters.check_profile(profile)
    notebooks = run.list_notebooks(only)
    if resume is not None:
        run_dir = Path(resume).expanduser().resolve()
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume {resume}: no such run folder")
    else:
        run_dir = config.run_folder(profile, output_root)
    jobs = plan_jobs(notebooks, seeds, run_dir, profile, params, data_dir, device, kernel, threads)
    done = [job for job in jobs if finished(job)]
    todo = [job for job in jobs if job not in done]
    rows = [_done_row(job) for job in done]
    desc = f"reproduce ({profile}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
    if client is not None:
        rows += run_jobs_on_dask(todo, client, progress, desc)
    elif (cluster or scheduler) and todo:
        with dask_client(cluster, scheduler) as made:
            rows += run_jobs_on_dask(todo, made, progress, desc)
    else:
        rows += run_jobs_here(todo, progress, desc)
    order = {(job.seed, job.notebook.name): i for i, job in enumerate(jobs)}
    summary = pd.DataFrame(sorted(rows, key=lambda r: order[(r["seed"], r["notebook"])]))
    run_dir.mkdir(parents=True, exist_ok=True)
    summary.to_csv(run_dir / "summary.csv", index=False)
    summary.attrs["run_dir"] = str(run_dir)
    if aggregate:
        aggregate_run(run_dir)
    return summary


def failures_text(summary: pd.DataFrame) -> str:
    """The failed jobs of a summary, each with its error and log; empty when none failed."""
    failed = summary[summary["status"] == "FAILED"]
    return "\n\n".join(f"FAILED: {r.notebook}, seed {r.seed} (log at {r.log}):\n{r.error}"
                       for r in failed.itertuples())
