#!/usr/bin/env bash
# `trident plot` of every kind from the committed fixtures (tests/fixtures/sweeps/: a 2-stage run's
# trace.json + config.json, the results.csv of a schedules, a layouts and a scaling sweep): each
# writes a valid PNG and SVG; the timeline also writes the analyzer's trace; bad input exits non-zero
# with a message. Usage: plot_test.sh TRIDENT_BINARY FIXTURES WORKDIR
set -uo pipefail
trident="$1"
fixtures="$2"
work="$3"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

check_figures() {  # STEM: STEM.png is a PNG, STEM.svg an SVG, both of some size
  [ "$(head -c 8 "$1.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1.png is not a PNG"
  [ "$(stat -c %s "$1.png")" -gt 10000 ] || fail "$1.png is suspiciously small"
  grep -q "<svg" "$1.svg" && grep -q "</svg>" "$1.svg" || fail "$1.svg is not a whole SVG"
  [ "$(stat -c %s "$1.svg")" -gt 10000 ] || fail "$1.svg is suspiciously small"
}

plot() {  # KIND INPUT STEM [ARGS...]
  local kind="$1" input="$2" stem="$3"
  shift 3
  "$trident" plot "$kind" --input "$input" --out "$stem.png" --out "$stem.svg" "$@" > "$stem.log" 2>&1 \
    || { cat "$stem.log"; fail "trident plot $kind"; }
  check_figures "$stem"
  echo "ok   $kind: $(basename "$stem").png and .svg"
}

plot timeline "$fixtures/run/trace.json" "$work/timeline"
grep -q '"traceEvents"' "$work/timeline.predicted.json" || fail "the timeline wrote no analyzer trace"
grep -q '"name":"F0.0"' "$work/timeline.predicted.json" || fail "the analyzer trace has no F0.0"
plot compare "$fixtures/schedules.csv" "$work/compare"
plot memory "$fixtures/schedules.csv" "$work/memory"
plot memory "$fixtures/schedules.csv" "$work/memory_pp4" --where layout.pp=4
plot scaling "$fixtures/scaling.csv" "$work/scaling"
plot compare "$fixtures/layouts.csv" "$work/compare_layouts"   # one point per layout: one bar each
plot memory "$fixtures/layouts.csv" "$work/memory_layouts"     # one group of stage bars per point

# Bad input: a clear message, a non-zero exit, no figure.
out=$("$trident" plot gantt --input "$fixtures/schedules.csv" --out "$work/x.png" 2>&1) && fail "an unknown kind passed"
grep -q "'gantt' is not a plot kind" <<<"$out" || fail "unknown kind: $out"
out=$("$trident" plot compare --input "$fixtures/schedules.csv" --out "$work/x.pdf" 2>&1) && fail "a .pdf passed"
grep -q "write a .png or an .svg" <<<"$out" || fail "bad extension: $out"
out=$("$trident" plot compare --input "$fixtures/run/trace.json" --out "$work/x.png" 2>&1) && fail "a trace as CSV passed"
grep -q "results.csv of trident sweep" <<<"$out" || fail "a trace given as CSV: $out"
out=$("$trident" plot memory --input "$fixtures/schedules.csv" --where layout.pp=3 --out "$work/x.png" 2>&1) \
  && fail "an empty selection passed"
grep -q "no row with status ok matching --where" <<<"$out" || fail "empty selection: $out"
[ ! -e "$work/x.png" ] || fail "a failed plot left a file"
echo "all plot cases passed"
