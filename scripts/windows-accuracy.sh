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

# score DATA REGIME PREFIX SUFFIX [lab accuracy options...]: every model of REGIME, into $OUT/PREFIX-MODELSUFFIX.FORMAT
score() {
  local data=$1 regime=$2 prefix=$3 suffix=$4 name model format
  shift 4
  for name in analytical-paper analytical-$regime mlp-$regime idling-$regime \
              analytical-$regime-windows mlp-$regime-windows idling-$regime-windows; do
    model=config/models/$name.yaml
    [ -f "$model" ] || model=config/models/$name.json
    for format in txt json html; do
      "$BIN" lab accuracy --data "$data" --model "$model" --measure windowP9999MeanMs "$@" \
        --format "${format/txt/text}" --out "$OUT/$prefix-$name$suffix.$format"
    done
  done
}

for regime in fast device-bound; do
  score data/calibration/$regime-30s.csv $regime windows-$regime "" --split test
  score data/calibration/$regime-30s.csv $regime windows-$regime .per-configuration --split test --per-configuration
done
# the no-idling dataset (seed 2, slice_idle 0 only): no model was fitted on any of it, so every row counts
score data/calibration/device-bound-30s-noidle.csv device-bound windows-noidle-device-bound "" --split all
echo "windows-accuracy: reports in $OUT/windows-*"
