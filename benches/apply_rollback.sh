#!/usr/bin/env bash
# Benchmark of the executor: a root with N packaged set-id files, timed for
# `apply --yes --only suid` and `rollback --yes` on the same tree, with wall
# time and peak memory. The
# journal syncs mode changes in batches and the file systems once, so the
# time should grow with N without a per-change sync.
#
#   benches/apply_rollback.sh [N...]      (default: 2000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ $# -eq 0 ] && sizes=(2000 20000)
cargo build --release --quiet
bin=target/release/dockhard
work=$(mktemp -d /var/tmp/dockhard-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

for n in "${sizes[@]}"; do
  root="$work/root-$n"
  python3 - "$root" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(root, "var/lib/dpkg/info"), exist_ok=True)
paths = []
for i in range(n):
    p = f"/usr/lib/bench/d{i % 100:03d}/helper-{i:06d}"
    os.makedirs(os.path.dirname(root + p), exist_ok=True)
    with open(root + p, "w") as f:
        f.write(f"helper {i}\n")
    os.chmod(root + p, 0o4755)
    paths.append(p)
with open(os.path.join(root, "var/lib/dpkg/info/bench.list"), "w") as f:
    f.write("\n".join(paths) + "\n")
PY
  state="$work/state-$n"
  /usr/bin/time -f "set-id files=$n apply: wall=%es maxrss=%MKiB" \
    "$bin" --root "$root" --state-dir "$state" -q apply --yes --only suid >/dev/null 2>"$work/time.txt"
  tail -1 "$work/time.txt"
  /usr/bin/time -f "set-id files=$n rollback: wall=%es maxrss=%MKiB" \
    "$bin" --root "$root" --state-dir "$state" -q rollback --yes >/dev/null 2>"$work/time.txt"
  tail -1 "$work/time.txt"
  left=$(find "$root" -perm /6000 -type f | wc -l)
  echo "set-id files=$n after rollback: $left of $n set-id again"
done
