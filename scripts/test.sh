#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
log="$(mktemp)"
set +e
.venv/bin/python -m pytest "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# Some native extensions print leak reports after pytest's own summary; repeat the counts last.
summary="$(grep -E '[0-9]+ (passed|failed|errors?).*in [0-9.]+s' "$log" | tail -1 || true)"
passed="$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
failed=0
for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | grep -oE '[0-9]+' || true); do
  failed=$((failed + n))
done
rm -f "$log"
printf "\ntests: %s passed, %s failed\n" "$passed" "$failed"
if [ "$rc" = "5" ]; then echo "test: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
