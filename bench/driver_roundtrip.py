"""Median query round trip per driver over loopback, against a bare socket echo.

Every driver talks to its emulator through the real stack (pyvisa-py raw socket or
pyserial socket://), the emulator answering from the world model.  The baseline, in
the same run, is a bare TCP echo of a short line on 127.0.0.1 with plain sockets: the
floor that any driver round trip stands on.  Prints one row per driver with the
median, the 90th percentile and the ratio median/baseline.

    python bench/driver_roundtrip.py [--n 500]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acquisition.apparatus import build_driver  # noqa: E402
from foundation.clock import VirtualClock  # noqa: E402
from simulators.apparatus import ROLES, SimulatedApparatus  # noqa: E402


def echo_baseline(n: int) -> list[float]:
    """Round trips of a bare loopback TCP echo (one line each way)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.sendall(b":MEAS:VOLT? (@0)\n")
        buf = b""
        while not buf.endswith(b"\n"):
            buf += client.recv(4096)
        times.append(time.perf_counter() - t0)
    client.close()
    server.close()
    return times


#: role -> (what is measured, one query through the driver's public API)
QUERIES = {
    "gauges": ("PR1 (ACK/ENQ, 2 exchanges)", lambda d: d.pressure(1)),
    "valves": ("relay read 0", lambda d: d.relay_state(0)),
    "goniometer": ("1TP", lambda d: d.position_deg),
    "filament": ("MEAS:CURR?", lambda d: d.measured_current),
    "picoammeter": ("READ?", lambda d: d.read_current()),
    "counter": ("DATA:POIN?", lambda d: d.points_available()),
    "hv_gun": (":MEAS:VOLT? (@0)", lambda d: d.measured_voltage(0)),
}


#: what a role needs before its query means anything (the 6485 powers up in zero check)
SETUP = {"picoammeter": lambda d: d.configure_for_beam()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="queries per driver")
    args = parser.parse_args()
    clock = VirtualClock()
    base = echo_baseline(args.n)
    base_med = statistics.median(base)
    rows = []
    with SimulatedApparatus(clock) as sim:
        for role, (what, query) in QUERIES.items():
            model = ROLES[role][0]
            driver = build_driver(model, sim.address(role), clock=clock)
            with driver:
                SETUP.get(role, lambda d: None)(driver)
                for _ in range(20):  # warm up (connect, caches)
                    query(driver)
                times = []
                for _ in range(args.n):
                    t0 = time.perf_counter()
                    query(driver)
                    times.append(time.perf_counter() - t0)
            times.sort()
            rows.append((f"{model} {what}", statistics.median(times), times[int(0.9 * len(times))]))
    print(f"loopback round trips, {args.n} queries each (python {sys.version.split()[0]})")
    print(f"{'driver / query':44s} {'median us':>10s} {'p90 us':>9s} {'ratio':>7s}")
    print(f"{'baseline: bare socket echo':44s} {base_med * 1e6:10.1f} {sorted(base)[int(0.9 * len(base))] * 1e6:9.1f} {1.0:7.2f}")
    for name, med, p90 in rows:
        print(f"{name:44s} {med * 1e6:10.1f} {p90 * 1e6:9.1f} {med / base_med:7.2f}")


if __name__ == "__main__":
    main()
