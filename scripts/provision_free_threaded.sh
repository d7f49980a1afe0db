#!/usr/bin/env bash
# Provision a free-threaded CPython 3.13 (no GIL) into a git-ignored folder: the
# interpreter the study's free-threaded cells run under (issue 26, first step).
#
#   bash scripts/provision_free_threaded.sh [PREFIX]     # default: .ft/cpython-3.13t
#
# Source: the pristine upstream CPython 3.13.5 tarball that Debian's archive ships as
# the source of trixie's python3.13 package (python3.13_3.13.5.orig.tar.xz, checked
# against its sha256 below), fetched with `apt-get source --download-only` from the
# machine's own Debian mirror with a private apt state (the system's is untouched).
# Build: configure --disable-gil, make, make install (2-4 minutes on 2 cores; no PGO/LTO,
# like the project's 3.11; without the test modules: nothing here imports them, and
# byte-compiling Lib/test three times is a good part of the install). Progress: one line
# per phase; the tools' output goes to PREFIX.log. The result is checked (Py_GIL_DISABLED, sys._is_gil_enabled()
# False) and removed if it fails; then scripts/free_threaded_requirements.txt is installed
# into it (cereggii for the measuring child, the test tools for the design tests).
# Already provisioned: says so, exit 0.
# A missing tool or build dependency: one line naming it, exit 2, nothing built.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# absolute: the build works in other folders (a relative PREFIX, as the pipeline's rule
# passes, would break the apt and configure steps that run elsewhere)
PREFIX=$(realpath -m "${1:-$ROOT/.ft/cpython-3.13t}")
VERSION=3.13.5
TARBALL=python3.13_${VERSION}.orig.tar.xz
SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
PY=$PREFIX/bin/python3.13t
# written last, when the interpreter and its requirements are in place: what the pipeline's
# provisioning rule produces (impl/study/interpreters.py PROVISIONED_MARKER)
MARKER=$PREFIX/.provisioned
LOG=$PREFIX.log
say() { echo "provision_free_threaded: $*"; }
fail() { say "$*"; exit 2; }

check_built() {  # the interpreter at $1 runs with the GIL disabled
    "$1" -c 'import sys, sysconfig; assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1; assert not sys._is_gil_enabled()' 2>/dev/null
}

REQUIREMENTS=$ROOT/scripts/free_threaded_requirements.txt
has_requirements() {  # every pinned package at its pinned version
    "$PY" - "$REQUIREMENTS" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pin = line.split("==")
        assert version(name) == pin, name
PYEOF
}
install_requirements() {
    say "installing $(basename "$REQUIREMENTS") into it"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >> "$LOG" 2>&1 \
        || fail "could not install $(basename "$REQUIREMENTS") into $PY; see $LOG"
}

mark() { echo "CPython $VERSION free-threaded; $(sha256sum < "$REQUIREMENTS" | cut -c1-16)" > "$MARKER"; }

if [ -x "$PY" ] && check_built "$PY"; then
    if ! has_requirements; then
        install_requirements
        mark
        say "done: $PY (GIL disabled)"
        exit 0
    fi
    mark
    say "already provisioned: $PY (GIL disabled)"
    exit 0
fi

missing=()
for tool in gcc make apt-get tar xz sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v dpkg >/dev/null 2>&1; then
    for pkg in libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
fi
[ ${#missing[@]} -eq 0 ] || fail "missing: ${missing[*]} (on Debian: apt-get install build-essential" \
    "libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev xz-utils)"
[ -r /etc/apt/sources.list.d/debian.sources ] || [ -r /etc/apt/sources.list ] \
    || fail "no Debian apt sources to find the mirror in; allowed: a Debian machine, or pass a free-threaded python in config"

mkdir -p "$(dirname "$PREFIX")"
work=$(mktemp -d "${PREFIX}.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
: > "$LOG"

say "fetching CPython $VERSION source from the Debian mirror (log: $LOG)"
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || fail "no Debian mirror URI in the apt sources"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    > "$work/sources.list"
apt=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1)
(cd "$work/src" && apt-get "${apt[@]}" update -qq && \
    apt-get "${apt[@]}" source --download-only python3.13) >> "$LOG" 2>&1 \
    || fail "could not fetch python3.13's source from $mirror (trixie); see $LOG"
echo "$SHA256  $work/src/$TARBALL" | sha256sum -c --quiet - >> "$LOG" 2>&1 \
    || fail "$TARBALL does not match its sha256 $SHA256"

say "building with --disable-gil (2-4 minutes on 2 cores)"
tar -C "$work" -xf "$work/src/$TARBALL"
# the prefix is compiled into the install (scripts' shebangs): install where it will live;
# an interrupted install fails check_built on the next run, which builds again
rm -rf "$PREFIX"
# configure reads $OPT as compiler flags: nothing of that name is set here
(cd "$work/Python-$VERSION" && ./configure --disable-gil --disable-test-modules --prefix="$PREFIX" \
    --with-ensurepip=install && make -j"$(nproc)" && make install) >> "$LOG" 2>&1 \
    || { rm -rf "$PREFIX"; fail "the build failed; see $LOG"; }
check_built "$PY" \
    || { rm -rf "$PREFIX"; fail "the built interpreter does not run with the GIL disabled; see $LOG"; }
install_requirements
mark
say "done: $PY (GIL disabled)"
