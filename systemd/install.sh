#!/usr/bin/env bash
# Install fer-edge as a systemd service, or remove it. Idempotent: running it again updates the code and the
# unit, keeps an edited /etc/fer-edge/config.toml, and restarts the service.
#
#   sudo systemd/install.sh                      # user, venv, config, unit; enable and start
#   sudo systemd/install.sh --uninstall          # stop, disable, remove unit and venv; keep config and events
#   sudo systemd/install.sh --uninstall --purge  # also remove /etc/fer-edge, /var/lib/fer-edge and the user it made
#   sudo systemd/install.sh --coral              # also the Coral USB Accelerator drop-in (docs/coral.md)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/fer-edge
VENV="$PREFIX/venv"
CONF_DIR=/etc/fer-edge
CONF="$CONF_DIR/config.toml"
STATE=/var/lib/fer-edge
UNIT_NAME=fer-edge.service
UNIT="/etc/systemd/system/$UNIT_NAME"
SERVICE_USER=fer-edge
# what install.sh made that is not obviously its own (an account, a group membership): --purge undoes only that
INSTALLED="$CONF_DIR/install-state"

say() { echo "install.sh: $*"; }
die() { echo "install.sh: error: $1" >&2; exit "${2:-1}"; }

usage() {
    sed -n '2,8s/^# \{0,1\}//p' "$0" >&"$(( ${1:-0} == 0 ? 1 : 2 ))"
    exit "${1:-0}"
}

on_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

install_service() {
    command -v python3 >/dev/null || die "python3 not found (sudo apt install python3 python3-venv)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
    python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3-venv is missing (sudo apt install python3-venv)"

    install -d -m 0755 "$CONF_DIR"
    make_user

    install -d -m 0755 "$PREFIX"
    local venv_args=() pip_args=()
    if on_pi; then
        # picamera2 and libcamera come from apt (python3-picamera2) and are seen through the system site packages;
        # the constraints keep numpy 1.x, which apt's picamera2 and simplejpeg are built against
        venv_args=(--system-site-packages)
        pip_args=(--constraint "$REPO/systemd/pi-constraints.txt")
        python3 -c 'import picamera2' 2>/dev/null || say "warning: python3-picamera2 is not installed (sudo apt install python3-picamera2)"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "${venv_args[@]}" "$VENV"
        say "created $VENV ${venv_args[*]}"
    fi
    as_service_user "$VENV/bin/python" -c '' 2>/dev/null \
        || die "$VENV/bin/python ($(readlink -f "$VENV/bin/python")) cannot be run by the user $SERVICE_USER: remove $VENV and run install.sh with a system python3 first on PATH (sudo does that)"
    say "installing fer-edge from $REPO into $VENV (a few minutes on a Pi)"
    # built from a copy, so that root leaves no build/ or egg-info/ in the checkout
    local src
    src="$(mktemp -d)"
    tar -C "$REPO" --exclude=.git --exclude=.venv --exclude=build --exclude=runs --exclude='*.egg-info' -cf - . | tar -C "$src" -xf -
    # the mqtt extra (paho-mqtt, pure Python) so that [mqtt] host in the config works without another step
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${pip_args[@]}" --upgrade "$src[mqtt]"
    rm -rf "$src"
    install -m 0644 "$REPO/README.md" "$PREFIX/README.md"

    if [[ -e "$CONF" ]]; then
        install -m 0644 "$REPO/systemd/config.toml" "$CONF.default"
        say "kept $CONF; the shipped defaults are in $CONF.default"
    else
        install -m 0644 "$REPO/systemd/config.toml" "$CONF"
        say "wrote $CONF"
    fi
    # as the service will run it: a model only root can read must fail here, not at the start
    (cd / && as_service_user "$VENV/bin/fer-edge" service --config "$CONF" --check-config >/dev/null) \
        || die "$CONF is not valid for the user $SERVICE_USER (see the line above); fix it and run install.sh again" 2

    install -m 0644 "$REPO/systemd/fer-edge.service" "$UNIT"
    if ! systemd_running; then
        # a chroot or an image being built: enabling is only symlinks; the service starts at the next boot
        systemctl enable --quiet "$UNIT_NAME"
        say "enabled $UNIT_NAME; systemd is not running here, so it starts at the next boot"
        return
    fi
    systemctl daemon-reload
    systemctl enable --quiet "$UNIT_NAME"
    systemctl restart "$UNIT_NAME"
    say "started $UNIT_NAME; follow it with: journalctl -u fer-edge -f"
    say "health: curl -s localhost:8787/healthz (the port is http.port in $CONF)"
}

systemd_running() { [[ -d /run/systemd/system ]]; }

recorded() { grep -qsxF "$1" "$INSTALLED"; }
record() { recorded "$1" || echo "$1" >>"$INSTALLED"; }

# The service account: made here and recorded, or an existing one reused as it is and never deleted.
make_user() {
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
            --comment "fer-edge camera service" "$SERVICE_USER"
        record "created-user $SERVICE_USER"
        say "created system user $SERVICE_USER"
    elif ! recorded "created-user $SERVICE_USER"; then
        say "using the existing account $SERVICE_USER (uid $(id -u "$SERVICE_USER")), which install.sh did not create: --purge keeps it"
    fi
    if getent group video >/dev/null && [[ " $(id -nG "$SERVICE_USER") " != *" video "* ]]; then
        usermod -a -G video "$SERVICE_USER"
        recorded "created-user $SERVICE_USER" || record "added-to-group video"
    fi
}

as_service_user() {
    if command -v runuser >/dev/null; then
        runuser -u "$SERVICE_USER" -- "$@"
    else
        setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "$@"
    fi
}

remove_user() {
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        return
    fi
    if recorded "created-user $SERVICE_USER"; then
        userdel "$SERVICE_USER"
        say "removed the user $SERVICE_USER"
        return
    fi
    if recorded "added-to-group video"; then
        gpasswd -d "$SERVICE_USER" video >/dev/null
    fi
    say "kept the user $SERVICE_USER: install.sh did not create it"
}

uninstall_service() {
    local purge=$1
    if [[ -e "$UNIT" ]]; then
        if systemd_running; then
            systemctl disable --now --quiet "$UNIT_NAME" || true
        else
            systemctl disable --quiet "$UNIT_NAME" || true
        fi
        rm -f "$UNIT"
        if systemd_running; then
            systemctl daemon-reload
            systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
        fi
        say "removed $UNIT"
    fi
    rm -rf "$PREFIX"
    if [[ $purge == 1 ]]; then
        remove_user  # before $CONF_DIR goes: the record of what was made is there
        rm -rf "$CONF_DIR" "$STATE"
        say "removed $PREFIX, $CONF_DIR and $STATE"
    else
        say "removed $PREFIX; kept $CONF_DIR and $STATE (events): --uninstall --purge removes them (and the user, if install.sh created it)"
    fi
}

# --- Coral USB Accelerator: a drop-in beside the unit (systemd/coral-usb.conf), nothing else changed ---
CORAL_DROPIN="/etc/systemd/system/$UNIT_NAME.d/coral-usb.conf"

install_coral() {
    getent group plugdev >/dev/null \
        || die "no plugdev group, which Coral's udev rule gives the accelerator to: install libedgetpu1-std first (docs/coral.md)"
    ldconfig -p 2>/dev/null | grep -q 'libedgetpu\.so\.1' \
        || say "warning: libedgetpu.so.1 is not installed: sudo apt install libedgetpu1-std (Coral's apt repository; docs/coral.md)"
    install -d -m 0755 "$(dirname "$CORAL_DROPIN")"
    install -m 0644 "$REPO/systemd/coral-usb.conf" "$CORAL_DROPIN"
    say "installed $CORAL_DROPIN: USB device access for the Edge TPU; set [model] accelerator = \"edgetpu\" and an *_edgetpu.tflite path in $CONF"
}

remove_coral() {
    if [[ -e "$CORAL_DROPIN" ]]; then
        rm -f "$CORAL_DROPIN"
        rmdir --ignore-fail-on-non-empty "$(dirname "$CORAL_DROPIN")"
        say "removed $CORAL_DROPIN"
    fi
}

main() {
    local action=install purge=0 coral=0
    for arg in "$@"; do
        case "$arg" in
            --uninstall) action=uninstall ;;
            --purge) purge=1 ;;
            --coral) coral=1 ;;
            -h|--help) usage 0 ;;
            *) echo "install.sh: error: unknown option $arg" >&2; usage 2 ;;
        esac
    done
    [[ $purge == 0 || $action == uninstall ]] || die "--purge goes with --uninstall" 2
    [[ $coral == 0 || $action == install ]] || die "--coral goes with an install (--uninstall removes the drop-in)" 2
    [[ $EUID -eq 0 ]] || die "run as root: sudo $0 $*" 2
    command -v systemctl >/dev/null || die "systemctl not found: this installs a systemd service" 2
    if [[ $action == install ]]; then
        [[ $coral == 0 ]] || install_coral  # before the service (re)starts, so that it starts with the Edge TPU
        install_service
    else
        remove_coral
        uninstall_service "$purge"
    fi
}

main "$@"
