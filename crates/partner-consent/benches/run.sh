#!/usr/bin/env bash
# Load benchmark of partner-consent (release build) against the in-process emulator.
#   crates/partner-consent/benches/run.sh                 # 1,000 consents, 20,000 GET /
#   SAM_BENCH_CONSENTS=5000 SAM_BENCH_CONCURRENCY=32 crates/partner-consent/benches/run.sh
# Targets (issue #5): p99 of a full consent round trip < 20 ms locally; app RSS < 30 MB after
# 1,000 consents. For an external load generator on the landing page, run the app with
# `cargo run --release -p partner-consent -- --local` and e.g. `wrk -t2 -c32 -d20s http://127.0.0.1:8080/`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
exec cargo bench -p partner-consent --bench consent_roundtrip "$@"
