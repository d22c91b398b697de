#!/usr/bin/env bash
# Proof that fer-edge runs on a Raspberry Pi's software, without a Pi.
#
# Raspberry Pi OS bookworm (64-bit) is Debian bookworm arm64 with Python 3.11.
# This script builds a minimal Debian bookworm arm64 root filesystem, enters it
# under qemu-user emulation (binfmt_misc), installs the project's light install
# (`pip install .`: numpy, opencv-python-headless, ai-edge-litert) from PyPI's
# manylinux aarch64 wheels, and runs the device commands there:
#
#   fer-edge run --source demo --frames 5     5 frames, the astronaut labelled happy
#   fer-edge bench --quick                   results.json with schema, machine, models
#
# It checks results, not speed: emulated timings say nothing about a Pi.
#
#   sudo bash benchmarks/pi_emulation.sh
#
# Needs root (debootstrap, chroot, mount, binfmt_misc). Installs debootstrap,
# qemu-user-static and binfmt-support with apt-get when they are missing.
#
# Environment:
#   FER_EDGE_PI_CACHE          where the rootfs is kept between runs (default /var/cache/fer-edge-pi,
#                              outside the clone so that a fresh clone on the same machine reuses it)
#   FER_EDGE_PI_MIRROR         Debian mirror (default http://deb.debian.org/debian)
#   FER_EDGE_PI_CPUS           emulated CPUs `fer-edge run` is checked on (default "cortex-a72 cortex-a76":
#                              Raspberry Pi 4 and 5; cortex-a53 is a Pi 3 or Zero 2 W); bench uses the first
#   FER_EDGE_PI_REQUIRE_BENCH  1: a missing `fer-edge bench` is a failure (default: a note)
#   PYTHON                     host Python that builds the project's wheel (default python3)
#
# Exit codes: 0 all checks passed; 1 a step or check failed; 3 this machine
# cannot run arm64 binaries (binfmt_misc or qemu unavailable).
set -euo pipefail

SUITE=bookworm
ARCH=arm64
# minbase already has libc6, libstdc++6, libgcc-s1 and zlib1g, the only system libraries the
# aarch64 wheels of numpy, opencv-python-headless and ai-edge-litert load (everything else is
# bundled in the wheels; the headless OpenCV needs no libGL or libglib). python3-venv brings
# ensurepip's bundled pip wheel, so python3-pip is not needed. ca-certificates: pip's HTTPS.
PACKAGES=python3,python3-venv,ca-certificates,libstdc++6,zlib1g
# Bump when the rootfs recipe changes in a way PACKAGES does not show; a changed key rebuilds.
ROOTFS_RECIPE=1
CACHE_KEY="$SUITE $ARCH minbase $PACKAGES recipe=$ROOTFS_RECIPE"

CACHE=${FER_EDGE_PI_CACHE:-/var/cache/fer-edge-pi}
MIRROR=${FER_EDGE_PI_MIRROR:-http://deb.debian.org/debian}
REQUIRE_BENCH=${FER_EDGE_PI_REQUIRE_BENCH:-0}
read -r -a CPUS <<<"${FER_EDGE_PI_CPUS:-cortex-a72 cortex-a76}"
QEMU_CPU=${CPUS[0]}               # the CPU model qemu emulates (read by qemu-aarch64 from the environment)
BOUND_CPU=                        # the CPU whose /proc/cpuinfo is bound in the rootfs now
HOST_PYTHON=${PYTHON:-python3}
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
ROOTFS=$CACHE/rootfs
STAGE=/opt/fer-edge-pi            # inside the rootfs: the wheel, the checker, the venv; new each run
EXIT_NO_EMULATION=3

log() { printf 'pi-emulation: %s\n' "$*"; }
die() { log "FAIL: $*" >&2; exit 1; }
no_emulation() {  # one line, whatever the tools said (mount adds a line about dmesg)
    local reason
    reason=$(tr '\n' ' ' <<<"$*" | tr -s ' ')
    log "FAIL: cannot run arm64 binaries on this machine: ${reason% }" >&2
    exit "$EXIT_NO_EMULATION"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

# --- mounts -----------------------------------------------------------------------------------

# Every mount point at or below $1, deepest first (from /proc/self/mountinfo, field 5; octal
# escapes such as \040 are left as they are: our paths have no spaces).
mounts_under() {
    awk -v root="$1" '$5 == root || index($5, root "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all_under() {
    local target
    for target in $(mounts_under "$1"); do
        umount "$target" 2>/dev/null || umount -l "$target" || log "warning: could not unmount $target"
    done
}

# rm -rf that refuses while anything is mounted below: a bound /dev or /proc must never be deleted.
safe_remove() {
    local path=$1
    [ -e "$path" ] || return 0
    unmount_all_under "$path"
    if [ -n "$(mounts_under "$path")" ]; then
        die "refusing to delete $path: still mounted: $(mounts_under "$path" | tr '\n' ' ')"
    fi
    rm -rf --one-file-system "$path"
}

cleanup() {
    local rc=$?
    [ -d "$ROOTFS" ] && unmount_all_under "$ROOTFS"
    [ -d "$ROOTFS.tmp" ] && unmount_all_under "$ROOTFS.tmp"
    exit "$rc"
}

# --- host setup -------------------------------------------------------------------------------

need_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount, binfmt_misc): sudo bash $0"
}

install_host_packages() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "installing host packages: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# binfmt_misc lets the kernel hand aarch64 ELF files to qemu-aarch64-static. The F (fix-binary)
# flag makes the kernel open the interpreter at registration time, so it works inside the
# chroot, where /usr/bin/qemu-aarch64-static does not exist.
BINFMT=/proc/sys/fs/binfmt_misc
AARCH64_MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

enable_binfmt() {
    local err
    if [ ! -e "$BINFMT/register" ]; then
        err=$(mount -t binfmt_misc binfmt_misc "$BINFMT" 2>&1) \
            || no_emulation "could not mount binfmt_misc at $BINFMT ($err); a container needs --privileged or a host with binfmt_misc"
    fi
    if [ "$(cat "$BINFMT/status")" != enabled ]; then
        echo 1 >"$BINFMT/status" 2>/dev/null || no_emulation "binfmt_misc is disabled and could not be enabled ($BINFMT/status)"
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        # The Debian way first (qemu-user-static ships the entry, binfmt-support loads it) ...
        update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        # ... else register by hand, with the F flag.
        err=$(printf ':qemu-aarch64:M::%s:%s:/usr/bin/qemu-aarch64-static:F' "$AARCH64_MAGIC" "$AARCH64_MASK" \
            2>&1 >"$BINFMT/register") || no_emulation "could not register qemu-aarch64 in $BINFMT/register (${err:-refused})"
    fi
    local entry
    entry=$(cat "$BINFMT/qemu-aarch64")
    grep -qx enabled <<<"$entry" || {
        echo 1 >"$BINFMT/qemu-aarch64" 2>/dev/null || no_emulation "the qemu-aarch64 binfmt entry is disabled and could not be enabled"
    }
    grep -q '^flags:.*F' <<<"$entry" \
        || no_emulation "qemu-aarch64 is registered without the F (fix-binary) flag ($(grep '^interpreter' <<<"$entry")); install qemu-user-static in place of qemu-user-binfmt"
    log "binfmt: qemu-aarch64 enabled ($(grep '^interpreter' <<<"$entry"), $(grep '^flags' <<<"$entry"))"
}

# --- the arm64 root filesystem ----------------------------------------------------------------

# Bind the kernel's views and the host's DNS and CA certificates into the rootfs. The CA bundle
# matters where HTTPS goes through an intercepting proxy whose CA only the host trusts.
enter_mounts() {
    local root=$1
    mount -t proc proc "$root/proc"
    mount -t sysfs -o ro sysfs "$root/sys"
    mount --bind /dev "$root/dev"
    mount -t tmpfs -o size=512m tmpfs "$root/tmp"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/fer-edge-host-ca.crt"
    fi
}

# Run a command inside the rootfs with a clean environment (the host's PIP_*, PYTHONPATH and
# venv must not leak in); proxies pass through. QEMU_CPU picks the emulated CPU model.
in_chroot() {
    local env=(HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
               PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore QEMU_CPU="$QEMU_CPU")
    [ -f "$ROOTFS/etc/fer-edge-host-ca.crt" ] && env+=(PIP_CERT=/etc/fer-edge-host-ca.crt)
    local var
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
        [ -n "${!var:-}" ] && env+=("$var=${!var}")
    done
    chroot "$ROOTFS" /usr/bin/env -i "${env[@]}" "$@"
}

# Emulate a Raspberry Pi's CPU: QEMU_CPU sets the instruction set (HWCAP) and a matching
# /proc/cpuinfo is bound over the host's. Why both:
# - qemu-user (7.2, bookworm's) passes the host's x86 /proc/cpuinfo through; LiteRT's XNNPACK
#   (via the cpuinfo library) parses it as ARM, finds no cores and segfaults in allocate_tensors.
# - qemu's default CPU, "max", has SME; under it XNNPACK's SME int8 kernels classify the demo
#   face as angry (0.47) instead of happy (0.94, as on x86 and every emulated Pi CPU). No Pi has
#   SME, so emulating Pi CPUs is both the faithful choice and the one that checks real kernels.
# Fields: CPU part, variant, revision, Features, the Pi it is in.
pi_cpu() {
    case $1 in
        cortex-a53) echo "0xd03 0x0 4|fp asimd evtstrm crc32 cpuid|Raspberry Pi 3 / Zero 2 W" ;;
        cortex-a72) echo "0xd08 0x0 3|fp asimd evtstrm crc32 cpuid|Raspberry Pi 4" ;;
        cortex-a76) echo "0xd0b 0x4 1|fp asimd evtstrm crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp|Raspberry Pi 5" ;;
        *) return 1 ;;
    esac
}

use_cpu() {
    local cpu=$1 spec part variant revision features model n i
    [ "$cpu" = "$BOUND_CPU" ] && return 0
    spec=$(pi_cpu "$cpu")
    IFS='|' read -r part features model <<<"$spec"
    read -r part variant revision <<<"$part"
    n=$(grep -c "^processor" /proc/cpuinfo)   # as many as the host's /sys lists
    {
        for ((i = 0; i < n; i++)); do
            printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
            printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision"
        done
        printf 'Model\t\t: %s (emulated)\n' "$model"
    } >"$ROOTFS$STAGE/cpuinfo-$cpu"
    [ -n "$(mounts_under "$ROOTFS/proc/cpuinfo")" ] && umount "$ROOTFS/proc/cpuinfo"
    mount --bind "$ROOTFS$STAGE/cpuinfo-$cpu" "$ROOTFS/proc/cpuinfo"
    QEMU_CPU=$cpu
    BOUND_CPU=$cpu
    log "cpu: emulating $cpu ($model)"
}

# A cached rootfs is used when its stamp matches CACHE_KEY; otherwise it is built in rootfs.tmp
# and moved into place only when complete, so an interrupted build is never used.
build_rootfs() {
    if [ -f "$ROOTFS/.fer-edge-pi-stamp" ] && [ "$(cat "$ROOTFS/.fer-edge-pi-stamp")" = "$CACHE_KEY" ]; then
        log "rootfs: cached at $ROOTFS ($CACHE_KEY)"
        return 0
    fi
    local tmp=$ROOTFS.tmp
    safe_remove "$tmp"
    safe_remove "$ROOTFS"
    mkdir -p "$CACHE"
    log "rootfs: building Debian $SUITE $ARCH (minbase + $PACKAGES) from $MIRROR in $tmp"
    # Stage one only unpacks (no arm64 code runs), so a broken emulation is reported here,
    # in one line, instead of as a failure deep inside debootstrap's second stage.
    debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" --foreign "$SUITE" "$tmp" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap (stage one) failed; see $CACHE/debootstrap.log"
    local err
    err=$(chroot "$tmp" /bin/true 2>&1) || no_emulation "an arm64 /bin/true does not run in the new rootfs (${err:-exit $?})"
    chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /debootstrap/debootstrap --second-stage \
        >>"$CACHE/debootstrap.log" 2>&1 \
        || { unmount_all_under "$tmp"; die "debootstrap (stage two, emulated) failed; see $CACHE/debootstrap.log"; }
    unmount_all_under "$tmp"
    rm -rf "$tmp/var/cache/apt/archives/"*.deb
    printf '%s\n' "$CACHE_KEY" >"$tmp/.fer-edge-pi-stamp"
    mv "$tmp" "$ROOTFS"
}

# --- the project inside -----------------------------------------------------------------------

# The project is pure Python: build its wheel on the host (fast), so nothing is built under
# emulation; the checker is copied beside it. The build runs on a copy of the working tree
# (uncommitted changes included) so that setuptools' build/ and egg-info never touch it.
stage_project() {
    local wheels
    wheels=$(mktemp -d)
    mkdir "$wheels/src"
    tar -C "$PROJECT" --exclude=.git --exclude=.venv --exclude=venv --exclude=build --exclude=dist --exclude=runs \
        --exclude='*.egg-info' --exclude=.pytest_cache --exclude=.ruff_cache --exclude=__pycache__ -cf - . \
        | tar -C "$wheels/src" -xf -
    "$HOST_PYTHON" -m pip wheel --no-deps -q -w "$wheels" "$wheels/src" >"$wheels/build.log" 2>&1 \
        || { cat "$wheels/build.log" >&2; die "building the project's wheel on the host failed ($HOST_PYTHON -m pip wheel)"; }
    safe_remove "$ROOTFS$STAGE"
    mkdir -p "$ROOTFS$STAGE"
    cp "$wheels"/fer_edge-*.whl "$PROJECT/benchmarks/pi_emulation_check.py" "$ROOTFS$STAGE/"
    rm -rf "$wheels"
}

main() {
    need_root
    local t0 t rootfs_s install_s run_s bench_s=- cpu
    t0=$(now)
    for cpu in "${CPUS[@]}"; do
        pi_cpu "$cpu" >/dev/null || die "FER_EDGE_PI_CPUS: unknown CPU $cpu (cortex-a53, cortex-a72 or cortex-a76)"
    done
    install_host_packages
    enable_binfmt
    mkdir -p "$CACHE"
    # One run at a time per cache (a developer and CI on one machine).
    exec 9>"$CACHE/lock"
    flock 9
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    t=$(now)
    build_rootfs
    rootfs_s=$(since "$t")
    enter_mounts "$ROOTFS"
    stage_project
    use_cpu "${CPUS[0]}"
    log "inside: uname -m = $(in_chroot uname -m)"
    log "inside: $(in_chroot python3 --version) ($(grep '^PRETTY_NAME=' "$ROOTFS/etc/os-release" | cut -d'"' -f2))"
    [ "$(in_chroot uname -m)" = aarch64 ] || die "the rootfs does not run as aarch64"
    in_chroot python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "the rootfs Python is not 3.11"

    t=$(now)
    local venv=$STAGE/venv wheel
    wheel=$(cd "$ROOTFS$STAGE" && echo fer_edge-*.whl)
    log "install: python3 -m venv; pip install --only-binary=:all: $wheel (the light install)"
    in_chroot python3 -m venv "$venv" || die "python3 -m venv failed inside the rootfs"
    # --only-binary=:all:: every dependency must come as a wheel for this platform; nothing compiles.
    in_chroot "$venv/bin/pip" install -q --only-binary=:all: "$STAGE/$wheel" \
        || die "pip install of the light install failed inside the rootfs (is there an aarch64 wheel for every dependency?)"
    in_chroot "$venv/bin/python" "$STAGE/pi_emulation_check.py" installed || die "the installed packages are not right"
    install_s=$(since "$t")

    t=$(now)
    for cpu in "${CPUS[@]}"; do
        use_cpu "$cpu"
        log "run: fer-edge run --source demo --frames 5 --events /tmp/ev.jsonl"
        rm -f "$ROOTFS/tmp/ev.jsonl"
        in_chroot "$venv/bin/fer-edge" run --source demo --frames 5 --events /tmp/ev.jsonl || die "fer-edge run failed on $cpu"
        in_chroot "$venv/bin/python" "$STAGE/pi_emulation_check.py" run /tmp/ev.jsonl || die "fer-edge run: wrong results on $cpu"
    done
    run_s=$(since "$t")

    # The light install has no Keras or TensorFlow: the desktop commands say which extra to install, in one line.
    local cmd err rc
    for cmd in "train --data /tmp/fer2013.csv --out /tmp/run" "convert /tmp/model.keras --out /tmp/out"; do
        rc=0
        # shellcheck disable=SC2086  # the words of $cmd are the arguments
        err=$(in_chroot "$venv/bin/fer-edge" $cmd 2>&1 >/dev/null) || rc=$?
        if [ "$rc" != 2 ] || [ "$(wc -l <<<"$err")" != 1 ] || ! grep -qF 'pip install "fer-edge[train]"' <<<"$err"; then
            die "fer-edge ${cmd%% *} on the light install: want one line naming fer-edge[train] and exit 2, got exit $rc: $err"
        fi
        log "extras: fer-edge ${cmd%% *}: exit 2: $err"
    done

    t=$(now)
    use_cpu "${CPUS[0]}"
    if in_chroot "$venv/bin/fer-edge" bench --help >/dev/null 2>&1; then
        # fewer timed calls and frames than a real --quick: emulated timings mean nothing, the results do
        local bench_args=(bench --quick --emulated --runs 20 --warmup 2 --video-frames 5 --out /tmp/bench)
        log "bench: fer-edge ${bench_args[*]}"
        in_chroot "$venv/bin/fer-edge" "${bench_args[@]}" || die "fer-edge bench --quick failed"
        in_chroot "$venv/bin/python" "$STAGE/pi_emulation_check.py" bench /tmp/bench || die "fer-edge bench: wrong results"
        bench_s=$(since "$t")s
    elif [ "$REQUIRE_BENCH" = 1 ]; then
        die "bench not available in this build (fer-edge bench --help failed) and FER_EDGE_PI_REQUIRE_BENCH=1"
    else
        log "bench: not available in this build (fer-edge bench --help failed); skipped (FER_EDGE_PI_REQUIRE_BENCH=1 makes this a failure)"
    fi

    log "timings (emulated under qemu: meaningless as Pi speed): rootfs ${rootfs_s}s, install ${install_s}s, run ${run_s}s (${#CPUS[@]} CPUs), bench ${bench_s}, total $(since "$t0")s"
    log "PASS: fer-edge installs and runs on Debian $SUITE $ARCH (emulated ${CPUS[*]}, Python 3.11)"
}

main "$@"
