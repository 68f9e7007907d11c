#!/usr/bin/env bash
# The isoflurane study's whole chain on the simulated apparatus, in virtual time:
# the argon effective-volume run, the relative-flow-method run, the relative DCS run,
# then `xbeam absolute`, which writes Table 1 (table1.txt, table1.csv), the uncertainty
# budget (budget.csv), the plot (dcs.png) and the NeXus analysis file (absolute.h5).
#
#   examples/absolute_chain.sh [OUTDIR] [GAS.toml]
#
# OUTDIR defaults to runs/absolute-<UTC time>; GAS.toml (the target line's gas,
# default examples/gases/isoflurane.toml) is any gas definition file with a DCS table:
# the simulator scatters from that table and the chain should give it back.
# Each run is a new simulated apparatus of the same physics (--seed differs per run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-runs/absolute-$(date -u +%Y%m%dT%H%M%SZ)}"
gas="${2:-$here/gases/isoflurane.toml}"
mkdir -p "$out/plans"
sim=(--sim --virtual --target-gas "$gas")

# the plans name their gas: another target gas gets copies naming it
name="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["name"])' "$gas")"
for plan in isoflurane_volume isoflurane_rfm isoflurane_overnight; do
    sed -e "s/\"isoflurane\"/\"$name\"/g" "$here/$plan.toml" > "$out/plans/$plan.toml"
done

xbeam run "$out/plans/isoflurane_volume.toml"    "${sim[@]}" --seed 11 -o "$out/volume.h5"   -q
xbeam run "$out/plans/isoflurane_rfm.toml"       "${sim[@]}" --seed 12 -o "$out/rfm.h5"      -q
xbeam run "$out/plans/isoflurane_overnight.toml" "${sim[@]}" --seed 13 -o "$out/relative.h5" -q
xbeam absolute --relative "$out/relative.h5" --volume "$out/volume.h5" --rfm "$out/rfm.h5" -o "$out/absolute"
echo "Table 1: $out/absolute/table1.txt"
