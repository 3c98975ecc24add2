#!/usr/bin/env bash
# Builds the Debian package target/debian/pvf-host_<version>-1_amd64.deb from this tree.
#
# Uses cargo-deb (pinned; installed into target/tools/ on first use from crates.io, about
# 1.5 min on 2 cores) with the metadata in subsystem/Cargo.toml. The binaries are the
# workspace's release binaries (built here if needed), stripped; `--fast` compression keeps
# packaging under 10 s (xz on the 400 MB of unstripped binaries took 4 min).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
tools="$PWD/target/tools"
cargo_deb="$tools/bin/cargo-deb"
if ! "$cargo_deb" --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
    echo "== installing cargo-deb $CARGO_DEB_VERSION into $tools" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --root "$tools" \
        --target-dir "$tools/build" >&2
fi

cargo build --release --bins >&2
"$cargo_deb" -p pvf-subsystem --no-build --strip --fast -o target/debian/ >&2
version=$(target/release/pvf-node --version | awk '{print $2}')
deb="target/debian/pvf-host_${version}-1_amd64.deb"
test -f "$deb"
echo "$deb"
