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
import re
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
    return sum(cpu_times(pid))


def cpu_times(pid):
    """User and system CPU seconds of `pid` (utime and stime: /proc/PID/stat's fields 14, 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


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


def warden_config(work, nginx, count, concurrency, tag):
    path = os.path.join(work, f"warden-{tag}-{count}-{concurrency}.yaml")
    with open(path, "w") as f:
        f.write(f"daemon: {{database: {work}/warden-{tag}-{count}-{concurrency}.db, log_level: error, "
                f"max_concurrency: {concurrency}, max_queue: 100000, shutdown_grace: 5s}}\njobs:\n")
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
        start_served, start_times, start = nginx.served(marker), cpu_times(process.pid), time.monotonic()
        samples = []
        while time.monotonic() - start < window:
            time.sleep(0.5)
            samples.append(rss_kib(process.pid))
        elapsed = time.monotonic() - start
        time.sleep(0.2)  # nginx flushes its log buffer every 100 ms
        served = nginx.served(marker) - start_served
        user, system = (now - then for now, then in zip(cpu_times(process.pid), start_times))
        peak = rss_kib(process.pid, "VmHWM")
        return {
            "served_per_s": served / elapsed, "cpu_per_1000": (user + system) / max(served, 1) * 1000,
            "system_per_1000": system / max(served, 1) * 1000,
            "peak_mb": peak / 1024, "steady_mb": statistics.median(samples) / 1024, "pid": process.pid,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def preload_history(binary, config, database, count, runs_per_job):
    """A store that has been running a while: `runs_per_job` past runs of each of the
    config's `count` jobs, as a daemon that ran them would have stored them. Each run's entry
    in the per-job index lands on its job's own page once a job has history, so a fresh
    store understates what a long-running daemon writes per check (BENCHMARKS.md)."""
    starter = subprocess.Popen([binary, "run", "--config", config, "--plugin-dir", "/nonexistent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while stored_runs(database) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    starter.send_signal(signal.SIGTERM)
    starter.wait(timeout=60)
    now = int(time.time() * 1000)
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO runs (job, plugin, trigger, scheduled_at, started_at, finished_at, duration_ms, status, attempts, "
            "message, retry, data, config_hash) VALUES (?, 'service_status', 'schedule', ?, ?, ?, 1.0, 'ok', 1, "
            "'past run', 0, '{\"healthy\":true,\"response_time\":0.001,\"status_code\":200}', 'preloaded')",
            ((f"c{job}", at, at, at) for step in range(runs_per_job, 0, -1)
             for job in range(count) for at in (now - step * 1000 - 60_000,)))


def checks_at_scale(work, scenarios, warmup, window, wardens, history=0):
    """Each scenario (checks, max_concurrency) with each Warden binary, then Monit once per
    number of checks, all against the same nginx; ratios are to Monit in this run. With
    `history`, each Warden starts on a store holding that many past runs per job."""
    nginx = Nginx(work)
    rows, monit_rows = [], {}
    try:
        for count, concurrency in scenarios:
            for label, binary in wardens:
                progress(f"{label}, {count} checks at 1 s, max_concurrency {concurrency}")
                config = warden_config(work, nginx, count, concurrency, label.replace(" ", "-"))
                database = config.replace(".yaml", ".db")
                if history:
                    progress(f"  … {history} past runs per job first")
                    preload_history(binary, config, database, count, history)
                served_before, stored_before = nginx.served("w="), stored_runs(database, "status = 'ok'")
                try:
                    warden = measure(label, [binary, "run", "--config", config, "--log-target", "stderr", "--plugin-dir", "/nonexistent"],
                                     nginx, "w=", warmup, window)
                except RuntimeError as error:
                    # An earlier build may refuse a config this one runs (the 10,000-job YAML bound).
                    progress(str(error))
                    rows.append((count, concurrency, label, None, 0, 0, 0))
                    continue
                time.sleep(0.3)
                served_total = nginx.served("w=") - served_before
                with sqlite3.connect(database) as db:
                    stored = db.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchone()[0] - stored_before
                    skipped = db.execute("SELECT count(*) FROM runs WHERE status = 'skipped'").fetchone()[0]
                os.unlink(database)
                rows.append((count, concurrency, label, warden, served_total, stored, skipped))
            if count not in monit_rows:
                progress(f"Monit, {count} checks at 1 s")
                monit_rows[count] = measure("monit", ["monit", "-I", "-c", monit_config(work, nginx, count)], nginx, "m=", warmup, window)
    finally:
        nginx.stop()
    sys.stdout.flush()
    print("\n### Checks at scale (HTTP health checks at a 1 s interval, counted at nginx)\n")
    print("Ratios are to Monit in this run. `of it, kernel`: the system part of the CPU (the rest is user "
          "space); Monit opens a connection per check, so most of its CPU is the kernel's, and that part "
          "moves most with the machine's load. `stored / served`: runs in SQLite against requests nginx "
          "served over the whole run; `skipped`: runs recorded skipped (overlap, queue full).\n")
    print("| checks | max_concurrency | tool | served/s | CPU s per 1,000 checks | of it, kernel | peak RSS MB | steady RSS MB | stored / served | skipped |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for count, concurrency, label, warden, served, stored, skipped in rows:
        monit = monit_rows[count]
        if warden is None:
            print(f"| {count:,} | {concurrency} | {label} | exited during warm-up (config refused) | | | | | | |")
            continue
        print(f"| {count:,} | {concurrency} | {label} | {warden['served_per_s']:,.0f} | {warden['cpu_per_1000']:.3f} | "
              f"{warden['system_per_1000']:.3f} | {warden['peak_mb']:.1f} | {warden['steady_mb']:.1f} | {stored:,} / {served:,} | {skipped:,} |")
        print(f"| | | {label} ÷ Monit | {warden['served_per_s'] / max(monit['served_per_s'], 1e-9):.2f}× | "
              f"{warden['cpu_per_1000'] / max(monit['cpu_per_1000'], 1e-9):.2f}× | "
              f"{warden['system_per_1000'] / max(monit['system_per_1000'], 1e-9):.2f}× | {warden['peak_mb'] / max(monit['peak_mb'], 1e-9):.2f}× | "
              f"{warden['steady_mb'] / max(monit['steady_mb'], 1e-9):.2f}× | | |")
    for count, monit in monit_rows.items():
        print(f"| {count:,} | | Monit 5.33 | {monit['served_per_s']:,.0f} | {monit['cpu_per_1000']:.3f} | {monit['system_per_1000']:.3f} | "
              f"{monit['peak_mb']:.1f} | {monit['steady_mb']:.1f} | | |")


def whole_process(command, rounds):
    """p50 and p99 wall milliseconds and the largest peak RSS (MB) of `command` run `rounds` times.

    Peak RSS comes from GNU time: a child forked from this Python process would count
    Python's own pages before its exec in its ru_maxrss."""
    samples, peak = [], 0
    for _ in range(rounds):
        begin = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples.append((time.monotonic() - begin) * 1000)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}: {result.stderr}")
        peak = max(peak, int(result.stderr.split()[-1]) / 1024)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))], peak


def cli_costs(database, total, wardens, rounds=30):
    """Read-only CLI commands as an operator runs them: the whole process, start-up included."""
    print(f"\n### The CLI as a whole process ({rounds} runs each, {total // 1_000_000}M-run database)\n")
    print("| command | tool | p50 ms | p99 ms | peak RSS MB |")
    print("|---|---|---:|---:|---:|")
    commands = [
        ("`warden --version`", lambda binary, i: [binary, "--version"]),
        ("`warden history --limit 50`", lambda binary, i: [binary, "history", "--database", database, "--limit", "50", "--json"]),
        ("`warden history --job J --since 1h --limit 50`", lambda binary, i: [
            binary, "history", "--database", database, "--job", f"job_{(i * 37) % 1000}", "--since", "1h", "--limit", "50", "--json"]),
    ]
    for name, command in commands:
        for label, binary in wardens:
            progress(f"{label}: {name}")
            samples, peak = [], 0
            for i in range(rounds):
                p50, p99, rss = whole_process(command(binary, i), 1)
                samples.append(p50)
                peak = max(peak, rss)
            samples.sort()
            print(f"| {name} | {label} | {samples[len(samples) // 2]:.1f} | {samples[-1]:.1f} | {peak:.1f} |")
        if "history" in name:
            p50, p99, _ = whole_process(["sqlite3", database, "SELECT * FROM runs ORDER BY scheduled_at DESC, id DESC LIMIT 50"], rounds)
            print(f"| {name} | sqlite3 (the query alone) | {p50:.1f} | {p99:.1f} | |")
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


def idle_cost(work, wardens, seconds):
    """CPU clock ticks of the daemon on the shipped default config, after its start-up."""
    print(f"\n### Idle cost (the shipped default config, {seconds} s after a 5 s start-up)\n")
    print("| tool | CPU clock ticks | RSS MB |")
    print("|---|---:|---:|")
    for label, binary in wardens:
        progress(f"{label}: idle on the default config for {seconds} s")
        process = subprocess.Popen([binary, "run", "--config", os.path.join(ROOT, "etc/warden/warden.yaml"),
                                    "--database", os.path.join(work, f"idle-{label.replace(' ', '-')}.db"),
                                    "--plugin-dir", os.path.join(ROOT, "etc/warden/examples/plugins.d"), "--log-target", "stderr"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)
            before = cpu_seconds(process.pid)
            time.sleep(seconds)
            ticks = round((cpu_seconds(process.pid) - before) * TICKS)
            print(f"| {label} | {ticks} | {rss_kib(process.pid) / 1024:.1f} |")
        finally:
            process.terminate()
            process.wait(timeout=30)
    sys.stdout.flush()


def symbols_only(binary, work):
    """A copy of `binary` for valgrind: valgrind 3.19 gives up on the release binary's DWARF,
    and the symbol table still names every function."""
    stripped = os.path.join(work, "warden-symbols-only")
    subprocess.run(["objcopy", "--strip-debug", binary, stripped], check=True)
    return stripped


def stored_runs(database, condition="1"):
    """Runs in `database` matching `condition`; 0 before the daemon has created it (valgrind
    starts the daemon slowly)."""
    try:
        with sqlite3.connect(database) as db:
            return db.execute(f"SELECT count(*) FROM runs WHERE {condition}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def instrumented_window(pid, seconds, counted, settle=0.0):
    """Counts instructions in `pid` (started under callgrind with `--instr-atstart=no`) for
    `seconds`; returns how much `counted()` grew meanwhile, read `settle` s after the end."""
    subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, stdout=subprocess.DEVNULL)
    first = counted()
    time.sleep(seconds)
    subprocess.run(["callgrind_control", "-i", "off", str(pid)], check=True, stdout=subprocess.DEVNULL)
    time.sleep(settle)
    return counted() - first


def program_total(report):
    """The instruction total in `callgrind_annotate`'s report."""
    return next((int(line.split()[0].replace(",", "")) for line in report.splitlines() if "PROGRAM TOTALS" in line), 0)


def callgrind(work, binary, count, seconds, top):
    """Instructions per check: `count` HTTP checks at 1 s under valgrind's callgrind, counted
    only after a warm-up (start-up left out), divided by the runs started meanwhile. Returns
    that figure."""
    nginx = Nginx(work)
    try:
        config = warden_config(work, nginx, count, 64, "callgrind")
        database = config.replace(".yaml", ".db")
        out = os.path.join(work, "callgrind.out")
        progress(f"{count} checks under callgrind: warm-up until {count * 5} runs are stored, then {seconds} s counted")
        stripped = symbols_only(binary, work)
        process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no",
                                    f"--callgrind-out-file={out}", stripped, "run", "--config", config,
                                    "--log-target", "stderr", "--plugin-dir", "/nonexistent"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def stored():
            return stored_runs(database, "status = 'ok'")
        deadline = time.monotonic() + 300
        while stored() < count * 5 and time.monotonic() < deadline:
            time.sleep(1)
        runs = instrumented_window(process.pid, seconds, stored)
        with sqlite3.connect(database) as db:
            skipped = db.execute("SELECT count(*) FROM runs WHERE status <> 'ok'").fetchone()[0]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        kept = os.path.join(tempfile.gettempdir(), f"warden-callgrind-{count}.out")
        shutil.copyfile(out, kept)
        progress(f"callgrind's output: {kept} (callgrind_annotate {kept})")
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", f"--threshold=100", out],
                                capture_output=True, text=True, check=True).stdout
        exclusive = subprocess.run(["callgrind_annotate", f"--threshold=100", out], capture_output=True, text=True, check=True).stdout
        calls = subprocess.run(["callgrind_annotate", "--tree=calling", f"--threshold=100", out],
                               capture_output=True, text=True, check=True).stdout
    finally:
        nginx.stop()

    def entries(text):
        rows = []
        for line in text.splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and parts[0].replace(",", "").isdigit() and "(" in parts[1]:
                count_text, rest = parts
                rows.append((int(count_text.replace(",", "")), rest.split(" [")[0]))
        return rows
    inclusive, own = entries(report), entries(exclusive)
    total = program_total(exclusive)
    stored_in_window = runs
    # The runs measured are the runs callgrind saw start: every run goes through
    # `AttemptLoop.run` once (each of its async parts is entered once a run). The runs stored
    # between the two control commands can be a slot's burst short or over (the commands'
    # latency): 800 stored against 840 runs counted read a check 5 % dearer.
    started = [int(m.group(1).replace(",", "")) for m in
               re.finditer(r">\s+\?\?\?:\$s12WardenEngine11AttemptLoopV3run_6plugin\S* \(([\d,]+)x\)", calls)]
    runs = max(started, default=0) or stored_in_window
    print(f"\n### One check under callgrind ({count} checks at 1 s, {runs:,} runs started in the {seconds} s window "
          f"({stored_in_window:,} ok runs stored meanwhile); {skipped:,} runs not ok over the whole run, valgrind being slow)\n")
    print(f"Instructions per check: **{total / max(runs, 1):,.0f}** (whole process, all threads).\n")
    for title, rows in (("inclusive", inclusive), ("self", own)):
        print(f"| {title} instructions per check | function |\n|---:|---|")
        for n, name in rows[:top]:
            print(f"| {n / max(runs, 1):,.0f} | `{name[:140]}` |")
        print()
    return total / max(runs, 1)


def callgrind_total(out):
    """A callgrind output's instruction total."""
    return program_total(subprocess.run(["callgrind_annotate", out], capture_output=True, text=True, check=True).stdout)


def monit_callgrind(work, counts, seconds):
    """Monit's instructions under callgrind at each number of checks in `counts` (two), split
    into a part per check and a part per cycle: Monit reads the whole process table every cycle
    (its `initprocesstree`), whatever it checks, so its figure per check falls as checks grow.
    Instructions are repeatable where CPU seconds are not (Monit's own moved 4x within a day
    here), but they leave out the kernel, where Monit spends most of its CPU (a connection per
    check): compare both."""
    nginx = Nginx(work)
    measured = []
    try:
        for count in counts:
            progress(f"Monit, {count} checks under callgrind, {seconds} s counted")
            out = os.path.join(work, f"monit-callgrind-{count}.out")
            process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                        "monit", "-I", "-c", monit_config(work, nginx, count)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(8)
            # nginx flushes its log buffer every 100 ms.
            served = instrumented_window(process.pid, seconds, lambda: nginx.served("m="), settle=0.2)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
            measured.append((count, served, callgrind_total(out)))
    finally:
        nginx.stop()
    # total = cycles * per_cycle + checks * per_check, with cycles = checks / count.
    (count_a, checks_a, total_a), (count_b, checks_b, total_b) = measured
    cycles_a, cycles_b = checks_a / count_a, checks_b / count_b
    per_check = (total_b - total_a * cycles_b / cycles_a) / (checks_b - checks_a * cycles_b / cycles_a)
    per_cycle = (total_a - checks_a * per_check) / cycles_a
    return measured, per_check, per_cycle


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the long run recorded in BENCHMARKS.md")
    parser.add_argument("--baseline", metavar="BINARY",
                        help="an earlier warden binary (`make bench-baseline`), measured beside this build in the same run")
    parser.add_argument("--scale", action="store_true",
                        help="only the checks-at-scale table, 10,000 checks included, with the short run's windows")
    parser.add_argument("--history", metavar="RUNS", type=int, default=0,
                        help="start each Warden of the checks-at-scale table on a store with RUNS past runs per job "
                             "(a daemon that has run a while; the default, 0, is a fresh store)")
    parser.add_argument("--callgrind", metavar="CHECKS", type=int,
                        help="only profile: instructions per check and the top functions under callgrind")
    args = parser.parse_args()
    if args.callgrind:
        work = tempfile.mkdtemp(prefix="warden-callgrind-")
        try:
            warden = callgrind(work, args.baseline or WARDEN, args.callgrind, 20, 25)
            if shutil.which("monit"):
                measured, per_check, per_cycle = monit_callgrind(work, (40, 200), 20)
                print("\n### Monit under callgrind, the same checks\n")
                print("| checks | checks served in 20 s | instructions per check |\n|---:|---:|---:|")
                for count, served, total in measured:
                    print(f"| {count:,} | {served:,} | {total / max(served, 1):,.0f} |")
                print(f"\nSplit: {per_check:,.0f} instructions per check and {per_cycle:,.0f} per cycle (the process table). "
                      f"At 1,000 checks Monit runs {per_check + per_cycle / 1000:,.0f} instructions a check, "
                      f"Warden {warden:,.0f} ({warden / (per_check + per_cycle / 1000):.2f}×); at 100, "
                      f"{per_check + per_cycle / 100:,.0f} ({warden / (per_check + per_cycle / 100):.2f}×). User space only: "
                      f"the kernel's part (Monit's larger, a connection per check) is in the CPU seconds of `make bench`.")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    for tool in (WARDEN, BENCH):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: run `make release` first")
    wardens = [("Warden", WARDEN)]
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            sys.exit(f"{args.baseline} is missing: run `make bench-baseline` first, or leave out --baseline")
        wardens.insert(0, ("Warden before", args.baseline))
    scenarios = [(100, 64), (1000, 64), (5000, 64), (5000, 512)]
    if args.full or args.scale:
        scenarios += [(10000, 64), (10000, 512)]
    warmup, window = (10, 30) if args.full else (5, 10)
    work = tempfile.mkdtemp(prefix="warden-bench-")
    try:
        print(f"# Warden benchmarks ({'full' if args.full else 'short'} run), {time.strftime('%Y-%m-%d')}, "
              f"{os.cpu_count()} CPUs, {os.uname().release}")
        if args.baseline:
            print(f"\n`Warden before` is {args.baseline}; `Warden` is this build.")
        if args.history:
            print(f"\nEach Warden starts on a store holding {args.history} past runs per job.")
        checks_at_scale(work, scenarios, warmup, window, wardens, args.history)
        if args.scale:
            return
        idle_cost(work, wardens, 60 if args.full else 20)
        progress("storage")
        print("\n### Storage\n\n| measure | figure | how |\n|---|---|---|")
        sys.stdout.flush()
        total = 10_000_000 if args.full else 1_000_000
        subprocess.run([BENCH, "store", str(total), os.path.join(work, "store")], check=True)
        cli_costs(os.path.join(work, "store", "history.db"), total, wardens)
        progress("timer precision")
        print("\n### Timer precision (start lateness of jobs at 1 s)\n")
        sys.stdout.flush()
        subprocess.run([BENCH, "timers", "1000,10000", "10" if args.full else "5"], check=True, stderr=subprocess.DEVNULL)
        start_and_reload(work, 1000, 5 if args.full else 3)
        print("\n### expect: conditions\n")
        sys.stdout.flush()
        subprocess.run([BENCH, "expect"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
