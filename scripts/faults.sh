#!/usr/bin/env bash
# The linearizability fault test for long: rounds of
# `get_set_cas_histories_stay_linearizable_under_partitions_and_kills`
# (core/server/tests/faults.rs), each with a new seed, until the time is up.
#
#   scripts/faults.sh [TOTAL_MINUTES] [ROUND_SECONDS]   (default 30 and 120)
#
# Prints one summary line per round (seed, ops, violations, check time) and a
# total at the end; exits non-zero if any round failed. A failed round keeps
# its output and history dump in $COORD_FAULT_OUT (default ./coord-faults):
# replay it with COORD_FAULT_SEED=<seed> (the schedule of faults follows the
# seed; thread timing does not), or check the dump again with
# COORD_CHECK_DUMP=<dump> ... checks_a_dumped_history --run-ignored all.
set -euo pipefail

total_min=${1:-30}
round_secs=${2:-120}
out=${COORD_FAULT_OUT:-./coord-faults}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"

test_name=get_set_cas_histories_stay_linearizable_under_partitions_and_kills
# Built once and copied: the rounds run this binary (not nextest, whose
# limit is three minutes), so editing the tree meanwhile changes nothing.
# `timeout` still ends a round that hangs.
bin=$(cargo test -q -p coord-server --features testing --test faults --no-run \
  --message-format=json | grep -o '"executable":"[^"]*/faults-[^"]*"' |
  sed 's/.*:"//; s/"$//' | tail -1)
[[ -x $bin ]] || { echo "faults.sh: no test binary found" >&2; exit 1; }
cp "$bin" "$out/faults-test"
run() {
  (cd "$root/core/server" &&
    timeout "$((round_secs + 300))" "$out/faults-test" --exact "$test_name" --nocapture)
}

deadline=$(( $(date +%s) + total_min * 60 ))
rounds=0 failed=0 ops=0
while (( $(date +%s) < deadline )); do
  rounds=$((rounds + 1))
  seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  log="$out/round-$rounds.log"
  started=$(date +%s)
  if COORD_FAULT_SEED=$seed COORD_FAULT_SECS=$round_secs \
     COORD_FAULT_DUMP="$out/round-$rounds.history" run >"$log" 2>&1; then
    status=ok
    # Keep the history of a slow check (for COORD_CHECK_DUMP).
    check_ms=$(sed -nE 's/^lincheck: seed .* check_ms ([0-9]+) .*/\1/p' "$log" | tail -1)
    if (( ${check_ms:-0} < 10000 )); then rm -f "$out/round-$rounds.history"; fi
  else
    status=FAILED
    failed=$((failed + 1))
  fi
  line=$(grep -E '^lincheck: seed [0-9]+ secs' "$log" | tail -1 || true)
  n=$(sed -nE 's/.* ops ([0-9]+) .*/\1/p' <<<"$line")
  ops=$((ops + ${n:-0}))
  echo "round $rounds: $status in $(( $(date +%s) - started )) s; ${line#lincheck: }"
  if [[ $status == ok ]]; then rm -f "$log"; fi
done
echo "total: $rounds rounds, $failed failed, $ops ops checked (logs of failures in $out)"
(( failed == 0 ))
