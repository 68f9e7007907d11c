"""Small plans for the tests, one writer for all of them (the simulated apparatus's tune
covers 40-300 eV, its goniometer 20-135 deg).  The text keeps the forms tests edit by
replacement: ``energies_eV = [50]``, ``angles_deg = [25, 30]``, ``dwell_s = 10.0``."""


def plan_text(sample: str = "isoflurane", energies=(100,), angles=(40, 60, 80), sweeps: int = 1,
              dwell_s: float = 20.0, background_dwell_s: float | None = 10.0, subgate_s: float = 5.0,
              operator: str = "", energy_s: float = 5.0, angle_s: float = 1.0, gas_s: float = 5.0) -> str:
    """A DCS plan; ``background_dwell_s=None`` leaves the key out (it defaults to
    ``dwell_s``), an empty ``operator`` leaves it out too."""
    lines = ["", "[metadata]", f'sample = "{sample}"']
    if operator:
        lines.append(f'operator = "{operator}"')
    lines += ["[scan]", 'gas = "isoflurane"', f"energies_eV = {list(energies)}", f"angles_deg = {list(angles)}",
              f"sweeps = {sweeps}", "[counting]", f"dwell_s = {dwell_s}"]
    if background_dwell_s is not None:
        lines.append(f"background_dwell_s = {background_dwell_s}")
    lines += [f"subgate_s = {subgate_s}", "[background]", 'mode = "every"', "[settle]", f"energy_s = {energy_s}",
              f"angle_s = {angle_s}", f"gas_s = {gas_s}", ""]
    return "\n".join(lines)
