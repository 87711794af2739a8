#!/usr/bin/env bash
# Re-scores every bundled model on the 30-window datasets' test split (per
# run and per configuration), and the device-bound ones on the no-idling
# dataset, into data/calibration/accuracy/windows-*: the figures in the
# README's "Against the paper's reference" tables.
# Usage: scripts/windows-accuracy.sh [path/to/rtvirtio]
set -euo pipefail
BIN=$(readlink -f "${1:-.build/release/rtvirtio}")
cd "$(dirname "$0")/.."
OUT=data/calibration/accuracy
for regime in fast device-bound; do
  data=data/calibration/$regime-30s.csv
  for name in analytical-paper analytical-$regime mlp-$regime idling-$regime \
              analytical-$regime-windows mlp-$regime-windows idling-$regime-windows; do
    model=config/models/$name.yaml
    [ -f "$model" ] || model=config/models/$name.json
    base=$OUT/windows-$regime-$name
    score() { "$BIN" lab accuracy --data "$data" --model "$model" --measure windowP9999MeanMs --split test "$@"; }
    for format in txt json html; do
      score --format "${format/txt/text}" --out "$base.$format"
      score --per-configuration --format "${format/txt/text}" --out "$base.per-configuration.$format"
    done
  done
done
# the no-idling dataset (seed 2, slice_idle 0 only): no model was fitted on any of it, so every row counts
data=data/calibration/device-bound-30s-noidle.csv
for name in analytical-paper analytical-device-bound mlp-device-bound idling-device-bound \
            analytical-device-bound-windows mlp-device-bound-windows idling-device-bound-windows; do
  model=config/models/$name.yaml
  [ -f "$model" ] || model=config/models/$name.json
  for format in txt json html; do
    "$BIN" lab accuracy --data "$data" --model "$model" --measure windowP9999MeanMs --split all \
      --format "${format/txt/text}" --out "$OUT/windows-noidle-device-bound-$name.$format"
  done
done
echo "windows-accuracy: reports in $OUT/windows-*"
