#!/usr/bin/env python3
"""Writes the link order of Warden's functions (`make symbol-order`, bench/README.md).

The release binary is linked with every function in its own section (`-function-sections`)
and these listed first, in this order: the functions the daemon runs in its steady state,
then those only start-up, the read-only CLI commands and shutdown run. The kernel maps a
binary's text in 64 KB runs around each page a process touches, so code that runs together
should lie together: spread over the binary, the steady state's few hundred KB of code
kept 9-12 MB of text resident (BENCHMARKS.md).

The functions come from valgrind's callgrind, which lists every function a run executed:
the daemon on the bench's HTTP checks against a loopback nginx (start-up, then a steady
stretch, then shutdown, dumped apart), the daemon on the shipped default config (its
steady state: Nagios checks, the load and disk plugins), and the read-only commands on the
store the first run wrote.
A function renamed or added since the list was made is linked after the listed ones: a
stale list costs some resident memory, never correctness.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

HEADER = "# Warden's link order (bench/symbol_order.py); regenerate with `make symbol-order`.\n"


def executed_functions(path, binary_name):
    """Functions of `binary_name` in a callgrind output file, by self cost, highest first."""
    objects, functions, cost = {}, {}, {}
    current_object = current_function = None
    call_cost = False  # the line after `calls=` is the call's inclusive cost, not the caller's own
    for line in open(path, errors="replace"):
        if line.startswith("calls="):
            call_cost = True
            continue
        if call_cost:
            call_cost = False
            continue
        if line.startswith(("ob=", "fn=", "cob=", "cfn=")):
            key, value = line.rstrip("\n").split("=", 1)
            match = re.match(r"\((\d+)\)(?: (.*))?$", value)
            ident, name = (match.group(1), match.group(2)) if match else (None, value)
            table = objects if key.endswith("ob") else functions
            if ident is not None and name is not None:
                table[ident] = name
            resolved = table.get(ident, name) if ident is not None else name
            if key == "ob":
                current_object = resolved
            elif key == "fn":
                current_function = resolved if current_object and os.path.basename(current_object) == binary_name else None
        elif current_function and line[:1].isdigit():
            parts = line.split()
            if len(parts) >= 2:
                cost[current_function] = cost.get(current_function, 0) + int(parts[1])
    names = {}
    for name, total in cost.items():
        symbol = re.sub(r"'\d+$", "", name)
        if symbol.startswith("0x") or not symbol:
            continue
        names[symbol] = names.get(symbol, 0) + total
    return sorted(names, key=lambda n: -names[n])


def callgrind(command, out, **popen):
    return subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no", "--separate-threads=no",
                             "--dump-instr=no", f"--callgrind-out-file={out}"] + command,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)


def dump_start_up_and_steady(daemon, out, seconds, what):
    """Dumps `daemon`'s counts so far (start-up, `out`.1), then those of the next `seconds`
    (the steady state, `out`.2), and stops it (shutdown's go to `out`). Returns the dumps."""
    subprocess.run(["callgrind_control", "--dump=start-up", str(daemon.pid)], check=True, stdout=subprocess.DEVNULL)
    bench.progress(f"{what}'s steady state: {seconds} s")
    time.sleep(seconds)
    subprocess.run(["callgrind_control", "--dump=steady", str(daemon.pid)], check=True, stdout=subprocess.DEVNULL)
    daemon.terminate()
    daemon.wait(timeout=120)
    return f"{out}.1", f"{out}.2"


def idle_steady_state(binary, work, seconds):
    """The shipped default config under callgrind: the functions its jobs run once start-up
    is over (its jobs run every 30-60 s, so `seconds` covers each at least once)."""
    out = os.path.join(work, "idle.out")
    notify = os.path.join(work, "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(notify)
        listener.settimeout(300)
        daemon = callgrind([binary, "run", "--config", os.path.join(bench.ROOT, "etc/warden/warden.yaml"),
                            "--database", os.path.join(work, "idle.db"), "--log-target", "stderr",
                            "--plugin-dir", os.path.join(bench.ROOT, "etc/warden/examples/plugins.d")],
                           out, env=dict(os.environ, NOTIFY_SOCKET=notify))
        try:
            while "READY=1" not in listener.recv(4096).decode().split("\n"):
                pass
        except BaseException:
            daemon.kill()
            raise
    return dump_start_up_and_steady(daemon, out, seconds, "the default config")[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", help="a release build linked with -function-sections")
    parser.add_argument("--out", default=os.path.join(bench.ROOT, "bench", "warden.order"))
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=20, help="the steady stretch")
    parser.add_argument("--idle-seconds", type=int, default=70, help="the default config's steady stretch")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="warden-order-")
    binary = bench.symbols_only(args.binary, work)
    nginx = bench.Nginx(work)
    try:
        config = bench.warden_config(work, nginx, args.checks, 64, "order")
        database = config.replace(".yaml", ".db")
        out = os.path.join(work, "daemon.out")
        bench.progress(f"the daemon under callgrind: {args.checks} checks at 1 s until each ran 3 times")
        daemon = callgrind([binary, "run", "--config", config, "--log-target", "stderr", "--plugin-dir", "/nonexistent"], out)

        deadline = time.monotonic() + 300
        while bench.stored_runs(database) < args.checks * 3:
            if time.monotonic() > deadline or daemon.poll() is not None:
                daemon.kill()
                raise SystemExit("the daemon did not store its runs under callgrind")
            time.sleep(1)
        start_up, steady = dump_start_up_and_steady(daemon, out, args.seconds, "the checks")

        commands = [
            ["--version"],
            ["history", "--database", database, "--limit", "50"],
            ["history", "--database", database, "--limit", "50", "--json"],
            ["stats", "--database", database],
            ["status", "--database", database],
        ]
        cli_outputs = []
        for index, command in enumerate(commands):
            bench.progress(f"warden {' '.join(command[:1])} under callgrind")
            cli_out = os.path.join(work, f"cli-{index}.out")
            callgrind([binary] + command, cli_out).wait(timeout=300)
            cli_outputs.append(cli_out)

        bench.progress("the shipped default config under callgrind")
        idle = idle_steady_state(binary, work, args.idle_seconds)

        # `out` itself holds shutdown's counts.
        phases = [executed_functions(path, os.path.basename(binary))
                  for path in [steady, idle, start_up] + cli_outputs + [out]]
        ordered = list(dict.fromkeys(name for phase in phases for name in phase))
        with open(args.out, "w") as f:
            f.write(HEADER)
            f.write("\n".join(ordered) + "\n")
        print(f"{len(ordered)} functions to {args.out} (the checks' steady state {len(phases[0])}, "
              f"the default config's {len(phases[1])}, start-up {len(phases[2])})")
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
