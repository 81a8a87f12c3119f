"""Benchmark: the orchestrator's HTTP control API, as an operator, astara-ctl and Prometheus see it.

Starts one real ``astara-orchestrator`` (4 worker processes of 4 threads,
spawned as in production) over ``tests.orchestrator_doubles_wiring`` (real
StateMachines over in-memory doubles, so no cloud), whose network model lists
N routers. Once ``GET /v1/resources`` lists all N, it measures, with httpx,
sequential requests after a warm-up:

- ``GET /v1/resources``: the full listing, which asks every worker for its
  report and serialises N rows (what ``astara-ctl`` and dashboards poll);
- ``GET /v1/resources/<id>``: one resource (the same reports, one row kept);
- ``GET /metrics``: a Prometheus scrape, and the size of its exposition;
- ``POST /v1/commands`` ``resource-update``: a command's round trip (checked,
  submitted to the intake, scheduled), then the commands/s that 8 concurrent
  clients get for a few seconds;

and finally the memory of the orchestrator's main process and of its workers.
These are the costs that grow with the fleet: an API that slows down with N
makes every operator's tool, and every scrape, slower.

Run: ``.venv/bin/python bench/control_api.py [--resources N]`` (default 1000).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchlib import machine, memory_mb, percentile, rss_kib

# Benchmarks run with only src (and this directory) on the path; the orchestrator's
# start over the doubles' wiring lives in the repository's tests package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.orchestrator_setup import Setup, stop_process_group

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30.0
WARMUP = 5
CLIENT_THREADS = 8
THROUGHPUT_S = 5.0


@dataclass
class Orchestrator:
    """A running orchestrator: its process, its control API and the token for it."""

    root: Path
    process: subprocess.Popen[bytes]
    url: str
    token_file: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token_file.read_text().strip()}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=HTTP_TIMEOUT_S)

    def stderr_tail(self) -> str:
        return (self.root / "stderr.txt").read_text()[-3000:]


def start(root: Path, resources: int, workers: int, threads: int) -> Orchestrator:
    """Start ``astara-orchestrator`` in its own process group, without a record file."""
    setup = Setup(root, workers=workers, threads=threads)
    process = setup.start(resources=resources, record=False)
    return Orchestrator(root, process, setup.url, setup.token_file)


def listed(orchestrator: Orchestrator) -> list[str]:
    """The ids ``GET /v1/resources`` lists now; empty while the API is not up yet."""
    if not orchestrator.token_file.exists():
        return []
    try:
        with orchestrator.client() as http:
            response = http.get("/v1/resources")
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    return [row["id"] for row in response.json()["resources"]]


def wait_for_all(orchestrator: Orchestrator, resources: int) -> tuple[list[str], float]:
    """The listed ids once all ``resources`` are listed, and the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT_S:
        if orchestrator.process.poll() is not None:
            raise RuntimeError(
                f"the orchestrator exited with {orchestrator.process.returncode}:\n"
                f"{orchestrator.stderr_tail()}"
            )
        ids = listed(orchestrator)
        if len(ids) >= resources:
            return ids, time.perf_counter() - started
        time.sleep(0.2)
    raise RuntimeError(f"fewer than {resources} resources listed after {START_TIMEOUT_S:.0f} s")


def timed(call: Callable[[int], httpx.Response], count: int) -> list[float]:
    """Seconds each of ``count`` sequential calls took, after a warm-up; each must be 200."""
    for n in range(WARMUP):
        call(n).raise_for_status()
    samples = []
    for n in range(count):
        started = time.perf_counter()
        response = call(n)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


def update_command(resource_id: str) -> dict[str, str]:
    return {"command": "resource-update", "resource_id": resource_id}


def commands_per_second(orchestrator: Orchestrator, ids: Sequence[str]) -> float:
    """Commands accepted per second by ``CLIENT_THREADS`` clients posting for a while."""
    counts = [0] * CLIENT_THREADS
    errors: list[BaseException] = []
    barrier = threading.Barrier(CLIENT_THREADS + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        with orchestrator.client() as http:
            barrier.wait()
            n = index
            try:
                while time.perf_counter() < deadline[0]:
                    response = http.post("/v1/commands", json=update_command(ids[n % len(ids)]))
                    response.raise_for_status()
                    counts[index] += 1
                    n += CLIENT_THREADS
            except (httpx.HTTPError, OSError) as error:
                errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + THROUGHPUT_S
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed, first: {errors[0]!r}")
    return sum(counts) / elapsed


@dataclass(frozen=True)
class Latency:
    name: str
    samples: list[float]

    def ms(self, p: float) -> float:
        return percentile(self.samples, p) * 1000


def measure_latencies(
    orchestrator: Orchestrator, ids: Sequence[str]
) -> tuple[list[Latency], float]:
    """Every route's latencies, and the size of the ``/metrics`` exposition in KB."""
    with orchestrator.client() as http:
        exposition = http.get("/metrics")
        exposition.raise_for_status()
        latencies = [
            Latency("list", timed(lambda n: http.get("/v1/resources"), 50)),
            Latency("show", timed(lambda n: http.get(f"/v1/resources/{ids[n % len(ids)]}"), 200)),
            Latency("metrics", timed(lambda n: http.get("/metrics"), 50)),
            Latency(
                "command",
                timed(
                    lambda n: http.post("/v1/commands", json=update_command(ids[n % len(ids)])),
                    200,
                ),
            ),
        ]
    return latencies, len(exposition.content) / 1024


def worker_pids(orchestrator: Orchestrator) -> list[int]:
    with orchestrator.client() as http:
        response = http.get("/v1/workers")
    response.raise_for_status()
    return [int(report["pid"]) for report in response.json()["workers"] if "pid" in report]


def memory(orchestrator: Orchestrator) -> dict[str, float]:
    """RSS of the main process, and RSS and PSS summed over the workers, in MB."""
    workers_rss, workers_pss = memory_mb(worker_pids(orchestrator))
    return {
        "main_rss": rss_kib(orchestrator.process.pid) / 1024,
        "workers_rss": workers_rss,
        "workers_pss": workers_pss,
    }


def report(
    args: argparse.Namespace,
    ready_s: float,
    latencies: list[Latency],
    metrics_kb: float,
    rate: float,
    mb: dict[str, float],
) -> None:
    print(
        f"{args.resources} routers, {args.workers} worker processes x {args.threads} threads; "
        f"all listed {ready_s:.1f} s after the start"
    )
    print(f"{'request':<36} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    routes = {
        "list": "GET /v1/resources",
        "show": "GET /v1/resources/<id>",
        "metrics": "GET /metrics",
        "command": "POST /v1/commands resource-update",
    }
    for latency in latencies:
        print(
            f"{routes[latency.name]:<36} {len(latency.samples):>5} {latency.ms(50):>9.2f} "
            f"{latency.ms(95):>9.2f} {latency.ms(99):>9.2f}"
        )
    print(f"/metrics exposition: {metrics_kb:.1f} KB")
    print(
        f"commands, {CLIENT_THREADS} concurrent clients for {THROUGHPUT_S:.0f} s: "
        f"{rate:,.0f} commands/s"
    )
    print(
        f"memory: main process RSS {mb['main_rss']:.1f} MB; {args.workers} workers RSS "
        f"{mb['workers_rss']:.1f} MB (PSS {mb['workers_pss']:.1f} MB)"
    )
    for latency in latencies:
        for p in (50, 95, 99):
            print(f"RESULT control_{latency.name}_ms_p{p} {latency.ms(p):.2f} ms")
    print(f"RESULT control_metrics_kb {metrics_kb:.1f} KB")
    print(f"RESULT control_commands_per_s {rate:.0f} commands/s")
    print(f"RESULT orchestrator_rss_mb {mb['main_rss']:.1f} MB")
    print(f"RESULT orchestrator_workers_rss_mb {mb['workers_rss']:.1f} MB")


def run(root: Path, args: argparse.Namespace) -> None:
    orchestrator = start(root, args.resources, args.workers, args.threads)
    try:
        ids, ready_s = wait_for_all(orchestrator, args.resources)
        latencies, metrics_kb = measure_latencies(orchestrator, ids)
        rate = commands_per_second(orchestrator, ids)
        mb = memory(orchestrator)
    finally:
        stop_process_group(orchestrator.process, STOP_TIMEOUT_S)
    report(args, ready_s, latencies, metrics_kb, rate, mb)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000, help="routers listed (1000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="astara-bench-control-") as directory:
        run(Path(directory), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
