"""Small plans for the queue tests (the simulated apparatus's tune covers 40-300 eV,
its goniometer 20-135 deg)."""


def plan_text(sample: str = "isoflurane", energies=(100,), angles=(40, 60, 80), sweeps: int = 1,
              dwell_s: float = 20.0, background_dwell_s: float = 10.0, subgate_s: float = 5.0) -> str:
    return f"""
[metadata]
sample = "{sample}"
operator = "queue test"
[scan]
gas = "isoflurane"
energies_eV = {list(energies)}
angles_deg = {list(angles)}
sweeps = {sweeps}
[counting]
dwell_s = {dwell_s}
background_dwell_s = {background_dwell_s}
subgate_s = {subgate_s}
[background]
mode = "every"
[settle]
energy_s = 5.0
angle_s = 1.0
gas_s = 5.0
"""
