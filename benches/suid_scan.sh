#!/usr/bin/env bash
# Benchmark of the set-id scan: builds a synthetic root with many files (a
# few of them set-id) and reports wall time and peak memory of
# `dockhard plan --only suid` on it, for two tree sizes. Peak memory should
# depend on the number of set-id files, not on the number of entries.
#
#   benches/suid_scan.sh [FILES_SMALL] [FILES_LARGE]
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-20000}
large=${2:-200000}
cargo build --release --quiet
bin=target/release/dockhard
work=$(mktemp -d /var/tmp/dockhard-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_tree() { # DIR FILES
  local dir=$1 files=$2 per=1000
  mkdir -p "$dir/usr/bin" "$dir/etc"
  python3 - "$dir" "$files" "$per" <<'PY'
import os, sys
root, files, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    d = os.path.join(root, "usr/share/data", f"d{i // per:05d}")
    if i % per == 0:
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"f{i:07d}")
    with open(p, "w") as f:
        f.write("x")
    if i % 5000 == 0:
        os.chmod(p, 0o4755)
PY
}

for n in "$small" "$large"; do
  dir="$work/root-$n"
  make_tree "$dir" "$n"
  # Warm the page cache once, then measure.
  "$bin" --root "$dir" plan --only suid >/dev/null || true
  /usr/bin/time -f "files=$n wall=%es maxrss=%MKiB" "$bin" --root "$dir" plan --only suid >/dev/null 2>"$work/time.txt" || true
  tail -1 "$work/time.txt"
done
