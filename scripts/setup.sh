#!/usr/bin/env bash
# Prepares this machine to run the workbench and its tests: Debian packages from bindep.txt and a
# Python 3.12+ virtualenv in .venv with requirements-test.txt. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

missing_packages() {
  sed -n 's/^\([a-z0-9.+-]*\) \[platform:dpkg\].*/\1/p' bindep.txt | while read -r package; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || echo "$package"
  done
}

if command -v dpkg-query > /dev/null; then
  mapfile -t packages < <(missing_packages)
  if [ "${#packages[@]}" -gt 0 ]; then
    log "installing Debian packages: ${packages[*]}"
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${packages[@]}"
    if printf '%s\n' "${packages[@]}" | grep -qx slapd; then
      # The package's postinst starts a system-wide slapd (port 389, /etc/ldap/slapd.d) where services
      # may start. The tests and the rehearsal run their own throwaway slapd (harness/endpoints.py):
      # stop and disable the one this script just installed so that it never gets in the way.
      log "stopping and disabling the system-wide slapd the package started"
      if command -v systemctl > /dev/null && [ -d /run/systemd/system ]; then
        "${sudo_cmd[@]}" systemctl disable --now slapd > /dev/null 2>&1 || true
      else
        "${sudo_cmd[@]}" service slapd stop > /dev/null 2>&1 || true
        "${sudo_cmd[@]}" update-rc.d slapd disable > /dev/null 2>&1 || true
      fi
    fi
  fi
fi

find_python() {
  local candidate
  for candidate in "${KDSW_PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" > /dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2> /dev/null; then
      echo "$candidate"
      return
    fi
  done
  log "ansible-core 2.21 needs Python 3.12 or newer; install it or point KDSW_PYTHON at it"
  exit 1
}

stamp=.venv/.requirements.sha256
wanted="$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2> /dev/null)" != "$wanted" ]; then
  python="$(find_python)"
  [ -x .venv/bin/python ] || { log "creating .venv with $python"; "$python" -m venv .venv; }
  log "installing Python requirements"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-test.txt
  echo "$wanted" > "$stamp"
fi
# JupyterHub's proxy, from npm, inside the virtualenv (the identity tests start a real hub).
if [ ! -x .venv/node/node_modules/.bin/configurable-http-proxy ] && command -v npm > /dev/null; then
  log "installing configurable-http-proxy from npm"
  npm install --silent --prefix .venv/node --no-audit --no-fund configurable-http-proxy@4.6.3 > /dev/null
fi
log "ready: ansible-core $(.venv/bin/python -c 'import ansible.release; print(ansible.release.__version__)') in .venv"
