#!/usr/bin/env bash
# Builds trident for the lent GPU machine (one H200, sm_90) and packs everything its one prepared run
# needs into bench/device/bundle/ (git-ignored; the device tool's `carry` takes it along):
#
#   bundle/payload.tar.xz   bin/       the test and benchmark programs, stripped
#                           sysroot/   Debian's runtime libraries (Open MPI, PMIx, OpenBLAS, Boost, …),
#                                      unpacked from their .debs with dpkg -x, never installed
#                           fallback/  Debian's libstdc++/libgcc_s, used only where the machine's are older
#                           data/      the default corpus (fortunes) as token files, for `trident train`
#                           MANIFEST   commit, build flags, packages, sizes
#   bundle/SIZE             bytes of the payload and of what else travels (the tool's limit is 64 MiB)
#
# The machine has the NVIDIA driver, CUDA 13 (cudart, cuBLAS, nvrtc) and, in its PyTorch environment,
# cuDNN 9 and NCCL 2; run_on_device.sh finds those there. It has none of the Debian packages, so the
# closure of every program and every Open MPI plugin is checked here: a library resolved outside the
# sysroot must be glibc's or NVIDIA's, else the plugin is dropped or the script fails naming it.
#
#   bash bench/device/make_bundle.sh                 # build in build-device/, pack
#   BUILD_DIR=build-c15-cuda bash bench/device/make_bundle.sh
#
# Builds use ccache; -march=x86-64-v3 instead of -march=native, since the device's CPU is not this one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/${BUILD_DIR:-build-device}
BUNDLE=$ROOT/bench/device/bundle
STAGE=$BUILD/device-stage
DEBS=$BUILD/device-debs
LIMIT_BYTES=$((64 * 1024 * 1024))
PROGRAMS=(test_gpu test_gpu_mpi test_nccl_comm bench_cuda_ops bench_gpt_step trident)
# Runtime packages of those programs and of mpirun (Debian 12 names). libstdc++6 and libgcc-s1 go to
# fallback/ (see run_on_device.sh).
PACKAGES=(libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15 libevent-core-2.1-7
          libevent-pthreads-2.1-7 libudev1 zlib1g libmunge2 libopenblas0-pthread libgfortran5 libquadmath0
          libboost-program-options1.74.0 libbenchmark1debian)
FALLBACK_PACKAGES=(libstdc++6 libgcc-s1)
# What the machine provides: glibc's libraries and NVIDIA's (driver, toolkit, cuDNN, NCCL).
PROVIDED='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|dl|pthread|rt|resolv|util)\.so\.[0-9]+|libcuda\.so\.1|libnvidia-[a-z-]+\.so\.[0-9.]+|libcudart\.so\.13|libcublas(Lt)?\.so\.13|libcudnn[a-z_]*\.so\.9|libnccl\.so\.2|libnvrtc[a-z-]*\.so\.13)$'

say() { printf '[make_bundle] %s\n' "$*"; }
die() { printf '[make_bundle] error: %s\n' "$*" >&2; exit 1; }

# ---- 1. build -----------------------------------------------------------------------------------
say "configure and build in $BUILD (sm_90 only)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DTRIDENT_CUDA=ON -DTRIDENT_CUDA_ARCHITECTURES=90 \
  -DTRIDENT_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache >"$BUILD.configure.log" 2>&1 ||
  { tail -20 "$BUILD.configure.log"; die "configure failed (log: $BUILD.configure.log)"; }
cmake --build "$BUILD" -j"${JOBS:-2}" --target "${PROGRAMS[@]}"

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/sysroot" "$STAGE/fallback" "$DEBS"
for p in "${PROGRAMS[@]}"; do
  src=$(find "$BUILD" -type f -name "$p" -perm -u+x | head -1)
  [ -n "$src" ] || die "program $p was not built"
  strip -o "$STAGE/bin/$p" "$src"
done

# The default experiment's corpus: the machine has no fortune files to build it from.
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$STAGE/bin/trident" data --default \
  --out-dir "$STAGE/data" >"$BUILD/device-data.log" 2>&1 || { cat "$BUILD/device-data.log"; die "trident data --default failed"; }
ls "$STAGE"/data/*train*.bin "$STAGE"/data/*val*.bin >/dev/null || die "no train/val token files in $STAGE/data"

# ---- 2. Debian's runtime libraries, unpacked --------------------------------------------------
say "download ${#PACKAGES[@]}+${#FALLBACK_PACKAGES[@]} packages into $DEBS"
(cd "$DEBS" && apt-get -q -o APT::Sandbox::User=root download "${PACKAGES[@]}" "${FALLBACK_PACKAGES[@]}" >/dev/null)
unpack() {  # unpack PACKAGE... into DIR
  local dir=$1 pkg deb
  shift
  for pkg in "$@"; do
    deb=$(ls -t "$DEBS"/"${pkg}"_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || die "no .deb for $pkg in $DEBS"
    dpkg -x "$deb" "$dir"
    basename "$deb" >>"$STAGE/packages.txt"
  done
}
: >"$STAGE/packages.txt"
unpack "$STAGE/sysroot" "${PACKAGES[@]}"
unpack "$STAGE/fallback-root" "${FALLBACK_PACKAGES[@]}"
find "$STAGE/fallback-root" \( -name 'libstdc++.so.6*' -o -name 'libgcc_s.so.1' \) -exec cp -P {} "$STAGE/fallback/" \;
rm -rf "$STAGE/fallback-root"

# Only what runs: no docs, headers, compiler wrappers, Fortran/Java/OpenSHMEM bindings or LAPACK.
S=$STAGE/sysroot
LIB=$S/usr/lib/x86_64-linux-gnu
# A few Debian 12 packages (zlib1g) still ship /lib/x86_64-linux-gnu; merge it into usr/ as merged-/usr
# systems do, so one library directory holds everything.
if [ -d "$S/lib" ]; then
  cp -a "$S/lib/." "$S/usr/lib/"
  rm -rf "$S/lib"
fi
rm -rf "$S/usr/share/doc" "$S/usr/share/man" "$S/usr/share/lintian" "$S/usr/lib/x86_64-linux-gnu/openmpi/include"
rm -f "$LIB"/libmpi_{mpifh,usempi,java}* "$LIB"/liboshmem* "$LIB"/libompitrace* "$LIB"/libmpi_cxx* \
  "$LIB"/openblas-pthread/liblapack* "$LIB"/openblas-pthread/libblas*
find "$S/usr/bin" -type f ! -name orterun ! -name orted ! -name ompi_info -delete
find "$S/usr/bin" -type l ! -name mpirun ! -name mpiexec -delete
for l in mpirun mpiexec; do ln -sf orterun "$S/usr/bin/$l"; done
# Debian reaches OpenBLAS through update-alternatives links that dpkg -x does not create.
ln -sf openblas-pthread/libopenblas.so.0 "$LIB/libopenblas.so.0"

# ---- 3. closure: every program and plugin resolves inside the sysroot or to what the machine has ---
LIBPATH="$LIB:$LIB/openblas-pthread:$LIB/openmpi/lib:$LIB/pmix2/lib"
outside() {  # libraries FILE resolves outside $STAGE that the machine does not provide
  LD_LIBRARY_PATH=$LIBPATH ldd "$1" 2>/dev/null | awk '
    $2 == "=>" && $3 == "not" { print $1; next }
    $2 == "=>" { print $1 " " $3; next }' |
    while read -r name path; do
      case "$path" in "$STAGE"/*) continue ;; esac
      [[ $name =~ $PROVIDED ]] && continue
      case "$name" in libstdc++.so.6 | libgcc_s.so.1) continue ;; esac  # fallback/
      echo "$name"
    done
}
dropped=()
for so in "$LIB"/openmpi/lib/openmpi3/*.so "$LIB"/pmix2/lib/pmix/*.so "$LIB"/hwloc/*.so; do
  [ -e "$so" ] || continue
  missing=$(outside "$so" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    dropped+=("$(basename "$so") (needs $missing)")
    rm -f "$so"
  fi
done
# Open MPI's common libraries of those transports (libmca_common_ucx/ofi/verbs) serve only the
# plugins just dropped (a plugin that links one resolves its libraries too, so it went with them).
for so in "$LIB"/libmca_common_*.so.*.*; do
  [ -f "$so" ] && [ ! -L "$so" ] || continue
  missing=$(outside "$so" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    dropped+=("$(basename "$so") (needs $missing)")
    rm -f "$so"
    find "$LIB" -maxdepth 1 -xtype l -name 'libmca_common_*' -delete  # its now-dangling .so.N links
  fi
done
for f in "$STAGE"/bin/* $(find "$S" -name '*.so*' -type f); do
  missing=$(outside "$f" | tr '\n' ' ')
  [ -z "$missing" ] || die "$(basename "$f") needs $missing, which neither the bundle nor the device machine has"
done
say "dropped ${#dropped[@]} Open MPI/PMIx plugins and common libraries whose libraries the machine lacks (InfiniBand, UCX, OFI, PSM)"

# ---- 4. manifest and payload --------------------------------------------------------------------
{
  echo "trident device bundle"
  echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
  echo "built: $(date -u +%FT%TZ) on $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}')"
  echo "cmake: -DTRIDENT_CUDA=ON -DTRIDENT_CUDA_ARCHITECTURES=90 -DTRIDENT_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 (Release)"
  echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "highest glibc symbol version needed: $(for f in "$STAGE"/bin/* $(find "$S" -name '*.so*' -type f); do objdump -T "$f" 2>/dev/null; done | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  echo "highest GLIBCXX needed: $(for f in "$STAGE"/bin/*; do objdump -T "$f"; done | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)"
  echo "packages:"; sed 's/^/  /' "$STAGE/packages.txt"
  echo "dropped plugins:"; for d in "${dropped[@]}"; do echo "  $d"; done
  echo "programs:"; (cd "$STAGE/bin" && ls -l | awk 'NR > 1 {print "  " $9 " " $5}')
} >"$STAGE/MANIFEST"
rm -f "$STAGE/packages.txt"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE"
say "compress"
tar -C "$STAGE" -cf - . | xz -T"${JOBS:-2}" -6 >"$BUNDLE/payload.tar.xz"
payload=$(stat -c %s "$BUNDLE/payload.tar.xz")
# Everything else that travels: tracked and untracked-not-ignored files.
tree=$(cd "$ROOT" && git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
total=$((payload + tree))
printf 'payload %d bytes, working tree %d bytes, together %d of %d bytes\n' "$payload" "$tree" "$total" "$LIMIT_BYTES" \
  | tee "$BUNDLE/SIZE"
cp "$STAGE/MANIFEST" "$BUNDLE/MANIFEST"
[ "$total" -lt $((LIMIT_BYTES - 2 * 1024 * 1024)) ] || die "bundle + working tree exceed the 64 MiB carry limit (less 2 MiB of margin)"
say "done: $BUNDLE (carry it as bench/device/bundle)"
