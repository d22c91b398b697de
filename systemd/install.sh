#!/usr/bin/env bash
# Install fer-edge as a systemd service, or remove it. Idempotent: running it again updates the code and the
# unit, keeps an edited /etc/fer-edge/config.toml, and restarts the service.
#
#   sudo systemd/install.sh                            # user, venv, config, unit; enable and start
#   sudo systemd/install.sh --uninstall                # stop, disable, remove unit and venv; keep config and events
#   sudo systemd/install.sh --uninstall --purge [--yes]  # also config, events and the user it made (asks first)
#   sudo systemd/install.sh --coral                    # also the Coral USB Accelerator drop-in (docs/coral.md)
# Only what the manifest (/etc/fer-edge/install-state) says install.sh made is ever removed.
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
# the manifest: every file, folder and account install.sh made, one "KIND PATH" a line; removal goes by it alone
INSTALLED="$CONF_DIR/install-state"

say() { echo "install.sh: $*"; }
die() { echo "install.sh: error: $1" >&2; exit "${2:-1}"; }

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "$0" >&"$(( ${1:-0} == 0 ? 1 : 2 ))"
    exit "${1:-0}"
}

on_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

# A checkout (or the folder install.sh runs from) is never installed into or over: uninstalling would delete it.
refuse_checkout() {
    local prefix
    prefix="$(realpath -m "$PREFIX")"
    if [[ "$REPO/" == "$prefix/"* ]]; then
        die "$PREFIX is where install.sh runs from ($REPO): clone fer-edge elsewhere (e.g. ~/fer-edge) and run install.sh there; it installs into $PREFIX" 2
    fi
    local mark
    for mark in .git pyproject.toml; do
        if [[ -e "$PREFIX/$mark" ]] && ! recorded "dir $PREFIX"; then
            die "$PREFIX holds $mark: it is a checkout, not an install; move it away (install.sh installs into $PREFIX and --uninstall would remove it)" 2
        fi
    done
}

# Make a folder, recording it as made here when it was not there before.
make_dir() {  # KIND PATH [install -d options]
    local kind=$1 path=$2
    shift 2
    if [[ ! -e "$path" ]]; then
        install -d "$@" "$path"
        record "$kind $path"
    fi
}

# Copy a file into place, recording it when install.sh made it (an existing file it did not make is replaced
# only where the caller says so, and never recorded).
put_file() {  # KIND SOURCE TARGET
    local kind=$1 from=$2 to=$3
    local new=0
    [[ -e "$to" ]] || new=1
    install -m 0644 "$from" "$to"
    if [[ $new == 1 ]]; then record "$kind $to"; fi
}

install_service() {
    local coral=${1:-0}
    refuse_checkout
    check_account
    command -v python3 >/dev/null || die "python3 not found (sudo apt install python3 python3-venv)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
    python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3-venv is missing (sudo apt install python3-venv)"

    local made_conf=0
    [[ -e "$CONF_DIR" ]] || made_conf=1
    install -d -m 0755 "$CONF_DIR"
    if [[ $made_conf == 1 ]]; then record "confdir $CONF_DIR"; fi
    [[ $coral == 0 ]] || install_coral  # before the service (re)starts, so that it starts with the Edge TPU
    make_user
    adopt_old_install
    make_dir dir "$PREFIX" -m 0755
    make_dir statedir "$STATE" -m 0750 -o "$SERVICE_USER" -g "$(id -gn "$SERVICE_USER")"
    local venv_args=() pip_args=()
    if on_pi; then
        # picamera2 and libcamera come from apt (python3-picamera2) and are seen through the system site packages;
        # the constraints keep numpy 1.x, which apt's picamera2 and simplejpeg are built against
        venv_args=(--system-site-packages)
        pip_args=(--constraint "$REPO/systemd/pi-constraints.txt")
        python3 -c 'import picamera2' 2>/dev/null || say "warning: python3-picamera2 is not installed (sudo apt install python3-picamera2)"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        [[ ! -e "$VENV" ]] || die "$VENV exists and is not a venv: move it away and run install.sh again" 2
        python3 -m venv "${venv_args[@]}" "$VENV"
        record "venv $VENV"
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
    put_file file "$REPO/README.md" "$PREFIX/README.md"
    # the README's pages beside it, so that its links (and the unit's Documentation=) lead somewhere on the device
    if [[ ! -d "$PREFIX/docs" ]]; then
        install -d -m 0755 "$PREFIX/docs"
        record "dir $PREFIX/docs"
    fi
    local page
    for page in "$REPO"/docs/*; do
        [[ -f "$page" ]] && put_file file "$page" "$PREFIX/docs/${page##*/}"
    done

    if [[ -e "$CONF" ]]; then
        put_file config "$REPO/systemd/config.toml" "$CONF.default"
        say "kept $CONF; the shipped defaults are in $CONF.default"
    else
        put_file config "$REPO/systemd/config.toml" "$CONF"
        say "wrote $CONF"
    fi
    # as the service will run it: a model only root can read must fail here, not at the start
    (cd / && as_service_user "$VENV/bin/fer-edge" service --config "$CONF" --check-config >/dev/null) \
        || die "$CONF is not valid for the user $SERVICE_USER (see the line above); fix it and run install.sh again" 2

    if [[ -e "$UNIT" ]] && ! recorded "file $UNIT"; then
        die "$UNIT exists and install.sh did not make it: move it away (or put local changes in a drop-in) and run install.sh again" 2
    fi
    put_file file "$REPO/systemd/fer-edge.service" "$UNIT"
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

# An install made before the manifest (install.sh 0.x): /opt/fer-edge holding only its venv and README.md.
adopt_old_install() {
    if [[ ! -d "$PREFIX" ]] || recorded "dir $PREFIX" || [[ ! -f "$VENV/pyvenv.cfg" ]]; then
        return
    fi
    local entry
    for entry in "$PREFIX"/* "$PREFIX"/.[!.]*; do
        [[ -e "$entry" ]] || continue
        [[ "$entry" == "$VENV" || "$entry" == "$PREFIX/README.md" ]] || return 0
    done
    record "dir $PREFIX"
    record "venv $VENV"
    [[ ! -e "$PREFIX/README.md" ]] || record "file $PREFIX/README.md"
    say "recorded the earlier install in $PREFIX in $INSTALLED"
}

recorded() { grep -qsxF "$1" "$INSTALLED"; }
record() { recorded "$1" || echo "$1" >>"$INSTALLED"; }
unrecord() { if [[ -f "$INSTALLED" ]]; then grep -vxF "$1" "$INSTALLED" >"$INSTALLED.new" || true; mv "$INSTALLED.new" "$INSTALLED"; fi; }

# The account the service runs as, before anything is made: an existing one must be a system account (no login
# shell, a uid below UID_MIN) with its own group; a group of that name without the user would stop useradd (exit 9).
check_account() {
    local entry uid shell home uid_min
    uid_min="$(awk '$1 == "UID_MIN" { print $2 }' /etc/login.defs 2>/dev/null)"
    uid_min="${uid_min:-1000}"
    if ! entry="$(getent passwd "$SERVICE_USER")"; then
        if getent group "$SERVICE_USER" >/dev/null; then
            die "a group $SERVICE_USER (gid $(getent group "$SERVICE_USER" | cut -d: -f3)) exists without a user $SERVICE_USER: install.sh makes both as a system account; remove the group (sudo groupdel $SERVICE_USER) or make the account yourself (sudo useradd --system --gid $SERVICE_USER --shell /usr/sbin/nologin $SERVICE_USER) and run install.sh again" 2
        fi
        return
    fi
    recorded "created-user $SERVICE_USER" && return 0
    IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
    if [[ $uid -ge $uid_min || ( $shell != */nologin && $shell != */false ) ]]; then
        die "the account $SERVICE_USER (uid $uid, shell $shell, home $home) is a person's login account, not a system account: install.sh will not run the camera service as it or add it to the video group; rename or remove that account (sudo userdel $SERVICE_USER) and run install.sh again" 2
    fi
    getent group "$SERVICE_USER" >/dev/null \
        || die "the system account $SERVICE_USER has no group $SERVICE_USER, which the unit runs as (Group=$SERVICE_USER): add it (sudo groupadd --system $SERVICE_USER && sudo usermod -g $SERVICE_USER $SERVICE_USER) and run install.sh again" 2
}

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
        unrecord "created-user $SERVICE_USER"
        say "removed the user $SERVICE_USER"
        return
    fi
    if recorded "added-to-group video"; then
        gpasswd -d "$SERVICE_USER" video >/dev/null
        unrecord "added-to-group video"
    fi
    say "kept the user $SERVICE_USER: install.sh did not create it"
}

# What the manifest lists of KIND, newest first (folders after what they hold).
listed() { [[ -f "$INSTALLED" ]] && { tac "$INSTALLED" | sed -n "s/^$1 //p"; } || true; }

# Remove one recorded thing: a file, a venv (install.sh's own tree), or a folder only once it is empty.
remove_recorded() {  # KIND PATH
    local kind=$1 path=$2
    case "$kind" in
        file|config) rm -f -- "$path" ;;
        venv) rm -rf -- "$path" ;;
        dir|confdir|statedir)
            if [[ -d "$path" ]] && ! rmdir -- "$path" 2>/dev/null; then
                say "kept $path: it holds files install.sh did not make"
                return
            fi ;;
    esac
    unrecord "$kind $path"
    say "removed $path"
}

# --purge's list: the config files and folders install.sh made, the events it made room for, and the account.
purge_list() {
    local path
    for path in $(listed config) $(listed statedir) $(listed confdir); do
        [[ -e "$path" ]] && echo "$path"
    done
    if recorded "created-user $SERVICE_USER" && id -u "$SERVICE_USER" >/dev/null 2>&1; then
        echo "the user $SERVICE_USER"
    fi
}

confirm_purge() {
    local yes=$1 items
    items="$(purge_list)"
    [[ -n "$items" ]] || return 0
    say "--purge deletes:"
    local item
    while IFS= read -r item; do
        if [[ -d "$item" ]]; then
            echo "  $item/ ($(find "$item" -mindepth 1 -not -type d | wc -l) files in it)"
        else
            echo "  $item"
        fi
    done <<<"$items"
    [[ $yes == 0 ]] || return 0
    [[ -t 0 ]] || die "--purge deletes what is listed above: add --yes to confirm (nothing was removed)" 2
    local answer
    read -r -p "Delete these? [y/N] " answer
    [[ $answer == [yY]* ]] || die "nothing removed" 1
}

uninstall_service() {
    local purge=$1 yes=$2
    [[ $purge == 0 ]] || confirm_purge "$yes"
    if recorded "file $UNIT" || [[ -L "/etc/systemd/system/multi-user.target.wants/$UNIT_NAME" ]]; then
        if systemd_running; then
            systemctl disable --now --quiet "$UNIT_NAME" || true
        else
            systemctl disable --quiet "$UNIT_NAME" || true
        fi
    fi
    local path
    for path in $(listed file); do remove_recorded file "$path"; done
    for path in $(listed venv); do remove_recorded venv "$path"; done
    for path in $(listed dir); do remove_recorded dir "$path"; done
    if systemd_running; then
        systemctl daemon-reload
        systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
    fi
    if [[ -e "$UNIT" ]]; then say "kept $UNIT: install.sh did not make it"; fi
    if [[ -e "$PREFIX" ]] && ! recorded "dir $PREFIX"; then say "kept $PREFIX: install.sh did not make it"; fi
    if [[ $purge == 0 ]]; then
        say "kept $CONF_DIR and $STATE (events): --uninstall --purge removes what install.sh made there (and the user, if it created it)"
        return
    fi
    remove_user  # before the manifest goes: it says whether the account was made here
    for path in $(listed config); do remove_recorded config "$path"; done
    for path in $(listed statedir); do
        if [[ -d "$path" ]]; then find "$path" -mindepth 1 -delete; fi  # the service's own events, listed and confirmed
        remove_recorded statedir "$path"
    done
    if [[ -e "$STATE" ]] && ! recorded "statedir $STATE"; then say "kept $STATE: install.sh did not make it"; fi
    local confdirs
    confdirs="$(listed confdir)"
    if [[ -z "$confdirs" && -d "$CONF_DIR" ]]; then say "kept $CONF_DIR: install.sh did not make it"; fi
    rm -f "$INSTALLED"  # what is left was kept for what is in it: no longer install.sh's to remove
    for path in $confdirs; do
        if rmdir -- "$path" 2>/dev/null; then
            say "removed $path"
        else
            say "kept $path: it holds files install.sh did not make"
        fi
    done
}

# --- Coral USB Accelerator: a drop-in beside the unit (systemd/coral-usb.conf), nothing else changed ---
CORAL_DROPIN="/etc/systemd/system/$UNIT_NAME.d/coral-usb.conf"

install_coral() {
    getent group plugdev >/dev/null \
        || die "no plugdev group, which Coral's udev rule gives the accelerator to: install libedgetpu1-std first (docs/coral.md)"
    ldconfig -p 2>/dev/null | grep -q 'libedgetpu\.so\.1' \
        || say "warning: libedgetpu.so.1 is not installed: sudo apt install libedgetpu1-std (Coral's apt repository; docs/coral.md)"
    make_dir dir "$(dirname "$CORAL_DROPIN")" -m 0755
    put_file file "$REPO/systemd/coral-usb.conf" "$CORAL_DROPIN"  # in the manifest: --uninstall removes it
    say "installed $CORAL_DROPIN: USB device access for the Edge TPU; set [model] accelerator = \"edgetpu\" and an *_edgetpu.tflite path in $CONF"
}


main() {
    local action=install purge=0 yes=0 coral=0
    for arg in "$@"; do
        case "$arg" in
            --uninstall) action=uninstall ;;
            --purge) purge=1 ;;
            --coral) coral=1 ;;
            --yes) yes=1 ;;
            -h|--help) usage 0 ;;
            *) echo "install.sh: error: unknown option $arg" >&2; usage 2 ;;
        esac
    done
    [[ $purge == 0 || $action == uninstall ]] || die "--purge goes with --uninstall" 2
    [[ $coral == 0 || $action == install ]] || die "--coral goes with an install (--uninstall removes the drop-in)" 2
    [[ $yes == 0 || $purge == 1 ]] || die "--yes goes with --uninstall --purge" 2
    [[ $EUID -eq 0 ]] || die "run as root: sudo $0 $*" 2
    command -v systemctl >/dev/null || die "systemctl not found: this installs a systemd service" 2
    if [[ $action == install ]]; then
        install_service "$coral"
    else
        uninstall_service "$purge" "$yes"
    fi
}

main "$@"
