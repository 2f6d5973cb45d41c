"""Page throughput of the real app under load, against a bare Flask endpoint on the same server setup.

SPEC: "Page throughput under load within a fixed ratio of a bare Flask endpoint on the same server setup".

Two gunicorn servers are started with the project's gunicorn.conf.py (2 sync workers, access log sent to
/dev/null): one serving the real app (bench/bench_wsgi.py) on a throwaway SQLite database, migrated and
loaded with the demo data; one serving bench/bare_app.py, a single Flask route returning a fixed ~7.5 KB
HTML string (the start page's uncompressed size; no database, templates or gzip). A pure-Python load
generator (--concurrency processes, a new loopback connection per request, `Accept-Encoding: gzip`)
loads each page for --seconds in all (after a 2 s warm-up), in --rounds round-robin slices, so that a burst
of other work on the machine hits every page alike. It prints requests/s, p50/p95 latency and the ratio to
the bare endpoint, with the lowest and highest ratio of any one round (a wide range means the machine was
busy with something else during the run: run it again), and the gunicorn workers' CPU time per request.

Run by hand:  .venv/bin/python bench/throughput.py [--seconds 10] [--concurrency 4] [--rounds 5]

Both servers and the load generator share the same (2-core) machine, so absolute requests/s mostly
measure the machine; the ratio to the bare endpoint is the figure to compare between runs.
"""

import argparse
import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import flask_migrate

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from mecc_volunteer import create_app  # noqa: E402
from mecc_volunteer.demo import load_demo  # noqa: E402
from mecc_volunteer.extensions import db  # noqa: E402
from mecc_volunteer.models import SessionStatus  # noqa: E402
from mecc_volunteer.volunteers.services import list_upcoming_sessions  # noqa: E402

HOST = "127.0.0.1"
HEADERS = {"Accept-Encoding": "gzip", "User-Agent": "mecc-bench/1"}
WARMUP = 2.0
MAX_REQUESTS_PER_WORKER = 200_000  # a bound on top of the time limit
REQUEST_TIMEOUT = 10.0
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def prepare_database(folder: str, url: str | None = None) -> tuple[str, int]:
    """Migrate a database (a new SQLite file in `folder` unless `url` names an empty one), load the demo data;
    return its URL and an open session id."""
    url = url or f"sqlite:///{folder}/bench.sqlite"
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}, instance_path=folder)
    with app.app_context():
        flask_migrate.upgrade()
        load_demo()
        db.session.commit()
        open_id = next(s.training_session.id for s in list_upcoming_sessions() if s.status is SessionStatus.OPEN)
        db.engine.dispose()
    return url, open_id


def start_gunicorn(module: str, port: int, env: dict, log_path: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--config", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"{HOST}:{port}",
        "--access-logfile", "/dev/null",
        "--pythonpath", f"{ROOT},{BENCH}",
        module,
    ]  # fmt: skip
    with open(log_path, "wb") as log:  # the server keeps its own copy of the file
        # Own process group, so Ctrl-C in the terminal reaches only this script, which then stops it.
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def wait_ready(server: subprocess.Popen, port: int, path: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}):\n{log_path.read_text()}")
        try:
            status, _ = fetch(port, path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn on port {port} not ready after {START_TIMEOUT:.0f} s:\n{log_path.read_text()}")


def stop(server: subprocess.Popen | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()  # SIGTERM: gunicorn's graceful shutdown of the arbiter and its workers
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def fetch(port: int, path: str) -> tuple[int, int]:
    """One request on a new connection; returns (status, body bytes on the wire)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", path, headers=HEADERS)
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


def load_worker(port: int, path: str, measure_from: float, until: float) -> tuple[int, int, list[float], int]:
    """Loop requests until `until` (monotonic, system-wide). Returns (ok, errors, latencies, body bytes)
    for requests started at or after `measure_from`."""
    ok = errors = size = 0
    latencies: list[float] = []
    for _ in range(MAX_REQUESTS_PER_WORKER):
        started = time.monotonic()
        if started >= until:
            break
        try:
            status, size = fetch(port, path)
        except OSError:
            status = None
        finished = time.monotonic()
        if started < measure_from or finished > until:
            continue
        if status == 200:
            ok += 1
            latencies.append(finished - started)
        else:
            errors += 1
            if status is None:
                time.sleep(0.01)  # a refused or reset connection: do not spin
    return ok, errors, latencies, size


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def worker_cpu(arbiter: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each worker of a gunicorn arbiter (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    usage = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == arbiter:  # fields[1] is the parent pid; utime and stime are fields[11:13]
            usage[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    return usage


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def measure(pool, server: int, port: int, path: str, seconds: float, concurrency: int, warmup: float) -> dict:
    """One slice: `concurrency` clients on one page for `seconds`, after `warmup` seconds of discarded load;
    also the CPU time that the server's workers spent meanwhile."""
    measure_from = time.monotonic() + 0.2 + warmup  # 0.2 s for the pool to pick the jobs up
    until = measure_from + seconds
    pending = pool.starmap_async(load_worker, [(port, path, measure_from, until)] * concurrency)
    sleep_until(measure_from)
    cpu_before = worker_cpu(server)
    sleep_until(until)
    cpu_after = worker_cpu(server)
    results = pending.get()
    return {
        "ok": sum(result[0] for result in results),
        "errors": sum(result[1] for result in results),
        "latencies": [latency for result in results for latency in result[2]],
        "size": max(result[3] for result in results),
        "seconds": seconds,
        "cpu": sum(cpu_after[pid] - cpu_before[pid] for pid in cpu_after.keys() & cpu_before.keys()),
    }


def combine(slices: list[dict]) -> dict:
    latencies = [latency for one in slices for latency in one["latencies"]]
    ok = sum(one["ok"] for one in slices)
    return {
        "rps": ok / sum(one["seconds"] for one in slices),
        "errors": sum(one["errors"] for one in slices),
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "size": max(one["size"] for one in slices),
        "cpu_ms": sum(one["cpu"] for one in slices) / ok * 1000 if ok else float("nan"),
    }


def worker_signals() -> None:
    """Load generator processes: Ctrl-C goes to the main process, which ends the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def on_sigterm(_signum, _frame):
    raise KeyboardInterrupt  # so that `finally` stops the servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per page (default 10)")
    parser.add_argument("--concurrency", type=int, default=4, help="load generator processes (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin slices per page (default 5)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 1 <= args.concurrency <= 64 and 1 <= args.rounds <= 100):
        parser.error("--seconds must be in (0, 600], --concurrency in [1, 64] and --rounds in [1, 100]")

    signal.signal(signal.SIGTERM, on_sigterm)
    folder = tempfile.mkdtemp(prefix="mecc-bench-")
    app_server = bare_server = None
    try:
        database_uri, open_id = prepare_database(folder)
        env = {
            key: value for key, value in os.environ.items() if key != "DATABASE_URL" and not key.startswith("FLASK_")
        }
        env.update(
            MECC_BENCH_SECRET_KEY="bench-secret-key",
            MECC_BENCH_DATABASE_URI=database_uri,
            MECC_BENCH_INSTANCE_PATH=folder,
        )
        app_port, bare_port = free_port(), free_port()
        app_log, bare_log = Path(folder, "gunicorn-app.log"), Path(folder, "gunicorn-bare.log")
        app_server = start_gunicorn("bench_wsgi:app", app_port, env, app_log)
        bare_server = start_gunicorn("bare_app:app", bare_port, env, bare_log)
        wait_ready(app_server, app_port, "/healthz", app_log)
        wait_ready(bare_server, bare_port, "/", bare_log)

        pages = [
            ("bare Flask endpoint", bare_server.pid, bare_port, "/"),
            ("start page", app_server.pid, app_port, "/"),
            ("registration form", app_server.pid, app_port, f"/sessions/{open_id}/register"),
            ("healthz", app_server.pid, app_port, "/healthz"),
        ]
        print(
            f"gunicorn.conf.py (2 sync workers), {args.concurrency} client processes, new connection per request, "
            f"gzip accepted; {WARMUP:g} s warm-up + {args.seconds:g} s per page in {args.rounds} rounds"
        )
        slices: list[list[dict]] = [[] for _ in pages]
        with multiprocessing.get_context("fork").Pool(args.concurrency, initializer=worker_signals) as pool:
            for number in range(args.rounds):
                print(f"round {number + 1} of {args.rounds} ...", file=sys.stderr, flush=True)
                for index, (_name, server, port, path) in enumerate(pages):
                    warmup = WARMUP if number == 0 else 0.0
                    seconds = args.seconds / args.rounds
                    slices[index].append(measure(pool, server, port, path, seconds, args.concurrency, warmup))
        bare = combine(slices[0])
        print(
            f"{'page':<22}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'bytes':>8}{'errors':>8}{'vs bare':>9}"
            f"{'per round':>14}{'server CPU ms/req':>19}"
        )
        for (name, *_server), page_slices in zip(pages, slices, strict=True):
            result = combine(page_slices)
            ratio = f"{result['rps'] / bare['rps']:.2f}x" if bare["rps"] else "n/a"
            per_round = [
                mine["ok"] / theirs["ok"] for mine, theirs in zip(page_slices, slices[0], strict=True) if theirs["ok"]
            ]
            spread = f"{min(per_round):.2f}-{max(per_round):.2f}x" if per_round else "n/a"
            print(
                f"{name:<22}{result['rps']:>9.1f}{result['p50']:>9.1f}{result['p95']:>9.1f}"
                f"{result['size']:>8}{result['errors']:>8}{ratio:>9}{spread:>14}{result['cpu_ms']:>19.2f}"
            )
        print(
            "server CPU ms/req: CPU time of the gunicorn workers per completed request. Other load on the machine\n"
            "changes it less than req/s (it does not count time spent waiting for a core), though not to nothing."
        )
    finally:
        stop(app_server)
        stop(bare_server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped")
