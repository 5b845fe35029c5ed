#!/usr/bin/env bash
# Runs the device command here, as the GPU machine will see it, before a session spends device time
# on it: a clean copy of what the device tool sends (tracked and untracked-not-ignored files, plus
# the carried bench/device/bundle) in a fresh directory, an empty environment, and none of Debian's
# packages that the bundle replaces: inside a private mount namespace every file of those packages
# (and of their -dev packages) is covered by /dev/null, so a library the bundle lacks fails to load
# instead of being found on this machine. Without a GPU every test must report skipped and every
# benchmark must report why it measured nothing; the script fails if a program does not start, a
# library is missing, or a step fails.
#
#   bash bench/device/check_bundle.sh            # needs root (unshare -m, mount --bind)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIM=${SIM:-/tmp/trident-device-check}
[ -f "$ROOT/bench/device/bundle/payload.tar.xz" ] || { echo "no bundle: run bench/device/make_bundle.sh first"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "check_bundle.sh needs root (a private mount namespace hides Debian's libraries)"; exit 2; }

rm -rf "$SIM"
mkdir -p "$SIM/repo" "$SIM/out"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$SIM/repo" 2>/dev/null || true)
mkdir -p "$SIM/repo/bench/device"
cp -r "$ROOT/bench/device/bundle" "$SIM/repo/bench/device/"

# Every installed file of the packages the bundle carries or that the build used (-dev, plugins).
HIDE_PACKAGES=$(dpkg-query -W -f '${Package}\n' | grep -E \
  '^(libopenmpi|openmpi-|libpmix|libhwloc|libevent|libopenblas|libblas|liblapack|libgfortran|libquadmath|libboost-program-options|libucx|libfabric|libpsm|libibverbs|librdmacm|libgtest|googletest|libbenchmark|nlohmann)' || true)
HIDE_LIST=$SIM/hidden.txt
for p in $HIDE_PACKAGES; do dpkg -L "$p" 2>/dev/null; done | while read -r f; do
  [ -f "$f" ] && case "$f" in *.so* | */bin/* | */openmpi* | */pmix*) echo "$f" ;; esac
done | sort -u >"$HIDE_LIST"
echo "hiding $(wc -l <"$HIDE_LIST") files of $(echo "$HIDE_PACKAGES" | wc -w) packages"

unshare -m --propagation private bash -s "$SIM" "$HIDE_LIST" <<'EOF'
set -u
SIM=$1
while read -r f; do mount --bind /dev/null "$f" 2>/dev/null; done <"$2"
# The hidden Open MPI must really be gone: this must fail.
if /usr/bin/orterun --version >/dev/null 2>&1; then echo "hiding failed: the system's mpirun still runs"; exit 3; fi
cd "$SIM/repo"
env -i PATH=/usr/bin:/bin HOME=/tmp OUT="$SIM/out" BUDGET_S=400 bash bench/device/run_on_device.sh
EOF
rc=$?
echo "run_on_device.sh exit status $rc; files in $SIM/out:"
ls -la "$SIM/out"
summary=$SIM/out/summary.txt
[ -f "$summary" ] || { echo "FAIL: no summary"; exit 1; }
# Here (no GPU) a step passes only by skipping: a failure, a timeout or a test that passed on a GPU
# that is not there is an error.
bad=$(awk '$2 != "ok" {print}' "$summary")
[ -z "$bad" ] || { echo "FAIL: steps that did not end cleanly:"; echo "$bad"; exit 1; }
if grep -E '[1-9][0-9]* passed' "$summary" | grep -v -E '^(preflight|cli_train|memcheck) '; then
  echo "note: the lines above count tests that passed without a GPU (CPU-side tests such as DeviceWorld)"
fi
echo "OK: every step ended cleanly without a GPU"
