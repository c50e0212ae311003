#!/usr/bin/env python3
"""Reproduction for the soak's RSS growth: SwiftPool's resident memory after pgbench -S runs
of 30 s with persistent connections and with a new connection per transaction (-C).

    chaos/repro_rss_connections.py

Uses the soak's private cluster (/tmp/swiftpool-chaos, ports 16601-16604, SwiftPool on 16432)
and removes it at the end.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402

RUNS = [["-S", "-c", "4", "-j", "1"], ["-S", "-c", "4", "-j", "1"],
        ["-S", "-C", "-c", "4", "-j", "1"], ["-S", "-C", "-c", "4", "-j", "1"],
        ["-S", "-M", "prepared", "-c", "4", "-j", "1"]]


def main() -> int:
    c = soak.Cluster(Path("/tmp/swiftpool-chaos"), 16601, 3)
    c.run("down", "--purge", check=False)
    soak.CLEANUP.append(lambda: c.run("down", "--purge", check=False))
    c.run("up")
    c.pg_bin = next(line.split("'")[1] for line in c.run("env").stdout.splitlines() if "PG_BIN=" in line)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
           "PGPASSWORD": soak.USERS[soak.APP_USER]}
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", soak.HOST, "-p", str(c.port(0)),
                    "-U", soak.APP_USER, soak.DB], env=env, check=True, capture_output=True)
    sp = soak.SwiftPool(Path(soak.REPO / ".build" / "release" / "swiftpool"),
                        Path("/tmp/swiftpool-chaos-repro-rss"), c, 16432, 16719, 16898)
    sp.write_config(10)
    soak.CLEANUP.append(lambda: sp.stop(soak.signal.SIGINT) if sp.alive() else None)
    sp.start()
    time.sleep(2)
    try:
        for args in RUNS:
            before = sp.rss()
            p = subprocess.run(["pgbench", "-n", "-h", soak.HOST, "-p", str(sp.port), "-U",
                                soak.APP_USER, "-T", "30", *args, soak.DB],
                               env=env, capture_output=True, text=True)
            n = re.search(r"processed: (\d+)", p.stdout)
            time.sleep(1)
            after = sp.rss()
            print(f"pgbench {' '.join(args):28} {n.group(1) if n else '?':>7} transactions, "
                  f"RSS {before / soak.MIB:.1f} -> {after / soak.MIB:.1f} MiB", flush=True)
    finally:
        for fn in reversed(soak.CLEANUP):
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
