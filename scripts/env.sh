# Sourced by the other scripts: makes sure uv and a Python 3.12 are there, then
# installs the locked dependencies (bytecode compiled: importing the Google provider
# package without .pyc files recompiles ~1,500 modules on every run).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# uv's managed Pythons come from a host we may not reach: use one already installed.
export UV_PYTHON_DOWNLOADS=never

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi

find_python312() {
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c '' >/dev/null 2>&1; then
    command -v python3.12
    return
  fi
  # pyenv puts a shim for python3.12 on PATH that fails unless 3.12 is selected.
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare | grep -E '^3\.12(\.[0-9]+)?$' | tail -n 1 || true)
    if [ -n "$version" ]; then
      echo "$(pyenv prefix "$version")/bin/python3.12"
      return
    fi
  fi
  echo "no Python 3.12 found: install one (Django 6 needs >= 3.12)" >&2
  return 1
}

UV_PYTHON=$(find_python312)
export UV_PYTHON
uv sync --frozen --compile-bytecode --quiet
