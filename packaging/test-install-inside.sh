#!/bin/bash
# The part of packaging/test-install.sh that runs inside the fresh Debian root (as root,
# after pivot_root). Prints the transcript; exits non-zero as soon as a step does not behave
# as expected.
set -uo pipefail

step() { printf '\n## %s\n' "$*"; }
# `run CMD…`: prints the command and its output; fails the test if it fails.
run() {
    printf '# %s\n' "$*"
    "$@" 2>&1
    local s=$?
    [ $s = 0 ] || { echo "!! exit status $s, expected 0"; exit 1; }
}
# `as_unit CMD…`: as the unit's user with the unit's main restrictions: a mount namespace in
# which / is read-only except the state folder (ProtectSystem=strict, StateDirectory=),
# no_new_privs (NoNewPrivileges=), no capabilities (CapabilityBoundingSet=), an empty
# environment but PVF_LOG=info. Prints the command, its output and its exit status.
as_unit() {
    printf '$ %s    (as pvf-host)\n' "$*"
    unshare --mount /bin/sh -c '
        mount --bind /var/lib/pvf-host /var/lib/pvf-host &&
        mount -o remount,bind,ro / &&
        exec setpriv --reuid=pvf-host --regid=pvf-host --init-groups --no-new-privs \
            --bounding-set=-all --inh-caps=-all \
            env -i PATH=/usr/bin:/bin HOME=/var/lib/pvf-host PVF_LOG=info "$@"' sh "$@" 2>&1
    local s=$?
    echo "[exit status $s]"
    return $s
}
cache=/var/lib/pvf-host/cache

step "The fresh root"
run cat /etc/debian_version
run sh -c 'ldd --version | head -1'

step "Install the package"
run dpkg -i /root/pvf-host.deb
run id pvf-host
run ls -ld /var/lib/pvf-host
run sh -c 'dpkg -L pvf-host | sort'

step "pvf-node doctor, as the unit's user"
as_unit pvf-node doctor --cache-path "$cache" || { echo "!! doctor failed"; exit 1; }

step "The default workload from the installed paths, as the unit's user"
as_unit pvf-node run --cache-path "$cache" --prometheus-port 0 || { echo "!! run failed"; exit 1; }

step "In-place upgrade of one worker: a pvf-execute-worker of another build replaces the installed one"
run pvf-node --version
run /usr/libexec/pvf-host/pvf-execute-worker --version
run install -m 755 /root/pvf-execute-worker.other /usr/libexec/pvf-host/pvf-execute-worker
run /usr/libexec/pvf-host/pvf-execute-worker --version

step "The node refuses to validate, and says what to do"
out=$(as_unit pvf-node run --cache-path "$cache" --prometheus-port 0)
s=$?
echo "$out"
if [ $s = 0 ] || ! grep -q "same build" <<<"$out" || ! grep -q "restart" <<<"$out"; then
    echo "!! expected a refusal naming the mismatch and what to do"
    exit 1
fi
out=$(as_unit pvf-node doctor --cache-path "$cache")
s=$?
echo "$out"
if [ $s = 0 ] || ! grep -q "pvf-execute-worker version .*fail" <<<"$out"; then
    echo "!! expected doctor to fail on the worker's version"
    exit 1
fi

step "What the message says: install node and workers together (reinstall the package)"
run dpkg -i /root/pvf-host.deb
as_unit pvf-node run --cache-path "$cache" --prometheus-port 0 || { echo "!! run failed after reinstalling"; exit 1; }

step "Purge"
run dpkg --purge pvf-host
run test ! -e /var/lib/pvf-host
echo
echo "install test: every step behaved as expected"
