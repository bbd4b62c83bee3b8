#!/usr/bin/env python3
"""Warden's benchmarks, side by side with Monit in the same run (`make bench`, `make bench-full`).

Checks at scale: one nginx on loopback serves /health; Warden (service_status jobs, every
result persisted) and Monit (`set daemon 1`, one `check host` per target) each run N checks
at a 1 s interval; the checks actually served are counted in nginx's access log, CPU from
/proc/PID/stat, RSS from /proc/PID/status. Then timer precision and storage (warden-bench)
and start/reload times (a notify socket). Prints one Markdown table per part.
"""
import argparse
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARDEN = os.path.join(ROOT, ".build/release/warden")
BENCH = os.path.join(ROOT, ".build/release/warden-bench")
TICKS = os.sysconf("SC_CLK_TCK")


def progress(text):
    print(f"  … {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime (fields 14, 15)


def rss_kib(pid, key="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Nginx:
    def __init__(self, work):
        self.work = work
        self.port = free_port()
        self.log = os.path.join(work, "access.log")
        os.makedirs(os.path.join(work, "nginx"), exist_ok=True)
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log error;
events {{ worker_connections 65536; }}
http {{
    log_format bench '$request_uri';
    access_log {self.log} bench buffer=256k flush=100ms;
    client_body_temp_path {work}/nginx; proxy_temp_path {work}/nginx; fastcgi_temp_path {work}/nginx;
    uwsgi_temp_path {work}/nginx; scgi_temp_path {work}/nginx;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port} backlog=65535;
        location = /health {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
""")
        subprocess.run(["nginx", "-c", conf, "-p", work, "-e", f"{work}/nginx-error.log"], check=True)
        time.sleep(0.3)

    def served(self, marker):
        """Requests so far whose URI carries `marker` (w= for Warden, m= for Monit)."""
        try:
            with open(self.log, "rb") as f:
                return f.read().count(marker.encode())
        except FileNotFoundError:
            return 0

    def stop(self):
        try:
            os.kill(int(open(os.path.join(self.work, "nginx.pid")).read()), signal.SIGQUIT)
        except (OSError, ValueError):
            pass


def warden_config(work, nginx, count):
    path = os.path.join(work, f"warden-{count}.yaml")
    with open(path, "w") as f:
        f.write(f"daemon: {{database: {work}/warden-{count}.db, log_level: error, max_concurrency: 64, max_queue: 100000, shutdown_grace: 5s}}\njobs:\n")
        for i in range(count):
            f.write(f"  - {{name: c{i}, plugin: service_status, every: 1s, timeout: 5s, params: {{service_url: \"http://127.0.0.1:{nginx.port}/health?w={i}\"}}}}\n")
    return path


def monit_config(work, nginx, count):
    path = os.path.join(work, f"monitrc-{count}")
    with open(path, "w") as f:
        f.write(f"set daemon 1\nset logfile {work}/monit-{count}.log\nset pidfile {work}/monit-{count}.pid\n"
                f"set idfile {work}/monit-{count}.id\nset statefile {work}/monit-{count}.state\n")
        for i in range(count):
            f.write(f"check host m{i} with address 127.0.0.1\n"
                    f"  if failed port {nginx.port} protocol http request \"/health?m={i}\" then alert\n")
    os.chmod(path, 0o600)
    return path


def measure(name, command, nginx, marker, warmup, window):
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited during warm-up with {process.returncode}")
        start_served, start_cpu, start = nginx.served(marker), cpu_seconds(process.pid), time.monotonic()
        samples = []
        while time.monotonic() - start < window:
            time.sleep(0.5)
            samples.append(rss_kib(process.pid))
        elapsed = time.monotonic() - start
        time.sleep(0.2)  # nginx flushes its log buffer every 100 ms
        served = nginx.served(marker) - start_served
        cpu = cpu_seconds(process.pid) - start_cpu
        peak = rss_kib(process.pid, "VmHWM")
        return {
            "served_per_s": served / elapsed, "cpu_per_1000": cpu / max(served, 1) * 1000,
            "peak_mb": peak / 1024, "steady_mb": statistics.median(samples) / 1024, "pid": process.pid,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def checks_at_scale(work, counts, warmup, window):
    nginx = Nginx(work)
    rows = []
    try:
        for count in counts:
            progress(f"Warden, {count} checks at 1 s")
            config = warden_config(work, nginx, count)
            served_before = nginx.served("w=")
            warden = measure("warden", [WARDEN, "run", "--config", config, "--log-target", "stderr", "--plugin-dir", "/nonexistent"],
                             nginx, "w=", warmup, window)
            time.sleep(0.3)
            served_total = nginx.served("w=") - served_before
            with sqlite3.connect(f"{work}/warden-{count}.db") as db:
                stored = db.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchone()[0]
            progress(f"Monit, {count} checks at 1 s")
            monit = measure("monit", ["monit", "-I", "-c", monit_config(work, nginx, count)], nginx, "m=", warmup, window)
            rows.append((count, warden, monit, served_total, stored))
    finally:
        nginx.stop()
    sys.stdout.flush()
    print("\n### Checks at scale (HTTP health checks at a 1 s interval, counted at nginx)\n")
    print("| checks | tool | served/s | CPU s per 1,000 checks | peak RSS MB | steady RSS MB | Warden runs stored / served |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for count, warden, monit, served, stored in rows:
        print(f"| {count:,} | Warden | {warden['served_per_s']:,.0f} | {warden['cpu_per_1000']:.3f} | {warden['peak_mb']:.1f} | {warden['steady_mb']:.1f} | {stored:,} / {served:,} |")
        print(f"| {count:,} | Monit 5.33 | {monit['served_per_s']:,.0f} | {monit['cpu_per_1000']:.3f} | {monit['peak_mb']:.1f} | {monit['steady_mb']:.1f} | |")
        ratio = warden["served_per_s"] / max(monit["served_per_s"], 1e-9)
        print(f"| {count:,} | ratio Warden/Monit | {ratio:.2f}× | {warden['cpu_per_1000'] / max(monit['cpu_per_1000'], 1e-9):.2f}× | "
              f"{warden['peak_mb'] / max(monit['peak_mb'], 1e-9):.2f}× | {warden['steady_mb'] / max(monit['steady_mb'], 1e-9):.2f}× | |")


def history_cli(database, total, rounds=30):
    """`warden history --job J --since 1h --limit 50` as an operator runs it: the whole process."""
    samples = []
    for round_ in range(rounds):
        begin = time.monotonic()
        subprocess.run([WARDEN, "history", "--database", database, "--job", f"job_{(round_ * 37) % 1000}", "--since", "1h",
                        "--limit", "50", "--json"], check=True, stdout=subprocess.DEVNULL)
        samples.append((time.monotonic() - begin) * 1000)
    samples.sort()
    print(f"| `warden history` (whole process) | p50 {samples[len(samples) // 2]:.1f} ms, p99 {samples[-1]:.1f} ms | "
          f"--job J --since 1h --limit 50 --json on {total // 1_000_000}M runs, {rounds} runs of the CLI |")
    sys.stdout.flush()


def start_and_reload(work, jobs, rounds):
    config = os.path.join(work, "start.yaml")
    with open(config, "w") as f:
        f.write(f"daemon: {{database: {work}/start.db, log_level: error}}\njobs:\n")
        for i in range(jobs):
            f.write(f"  - {{name: j{i}, plugin: nagios, every: 1h, params: {{command: /usr/lib/nagios/plugins/check_dummy, args: ['0']}}}}\n")
    starts, reloads = [], []
    for round_ in range(rounds):
        progress(f"start and reload with {jobs} jobs, round {round_ + 1}/{rounds}")
        path = os.path.join(work, f"notify-{round_}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(path)
        listener.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        begin = time.monotonic()
        process = subprocess.Popen([WARDEN, "run", "--config", config, "--log-target", "stderr", "--plugin-dir", "/nonexistent"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def wait_for(field):
                while True:
                    message = listener.recv(4096).decode()
                    if field in message.split("\n"):
                        return time.monotonic()
            starts.append((wait_for("READY=1") - begin) * 1000)
            sent = time.monotonic()
            process.send_signal(signal.SIGHUP)
            wait_for("RELOADING=1")
            reloads.append((wait_for("READY=1") - sent) * 1000)
        finally:
            process.terminate()
            process.wait(timeout=30)
            listener.close()
            os.unlink(path)
    print(f"\n### Start and reload ({jobs} jobs, {rounds} rounds, READY=1 read from a notify socket)\n")
    print("| measure | median ms | max ms |")
    print("|---|---:|---:|")
    print(f"| exec → READY=1 | {statistics.median(starts):.0f} | {max(starts):.0f} |")
    print(f"| SIGHUP → READY=1 | {statistics.median(reloads):.0f} | {max(reloads):.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the long run recorded in BENCHMARKS.md")
    args = parser.parse_args()
    for tool in (WARDEN, BENCH):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: run `make release` first")
    counts = [100, 1000, 5000, 10000] if args.full else [100, 1000]
    warmup, window = (10, 30) if args.full else (5, 10)
    work = tempfile.mkdtemp(prefix="warden-bench-")
    try:
        print(f"# Warden benchmarks ({'full' if args.full else 'short'} run), {time.strftime('%Y-%m-%d')}, "
              f"{os.cpu_count()} CPUs, {os.uname().release}")
        checks_at_scale(work, counts, warmup, window)
        progress("timer precision")
        print("\n### Timer precision (start lateness of jobs at 1 s)\n")
        sys.stdout.flush()
        subprocess.run([BENCH, "timers", "1000,10000", "10" if args.full else "5"], check=True, stderr=subprocess.DEVNULL)
        progress("storage")
        print("\n### Storage\n\n| measure | figure | how |\n|---|---|---|")
        sys.stdout.flush()
        total = 10_000_000 if args.full else 1_000_000
        subprocess.run([BENCH, "store", str(total), os.path.join(work, "store")], check=True)
        history_cli(os.path.join(work, "store", "history.db"), total)
        start_and_reload(work, 1000, 5 if args.full else 3)
        print("\n### expect: conditions\n")
        sys.stdout.flush()
        subprocess.run([BENCH, "expect"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
