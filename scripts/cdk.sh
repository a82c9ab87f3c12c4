#!/usr/bin/env bash
# The CDK CLI of the engine DJAPP_ENGINE selects (cdktf by default; docs/engines.md), as
# pinned in package.json, run on this app (cdktf.json, which both CLIs read):
#   scripts/cdk.sh synth                      cdktf-cli: the stack `python main.py` writes, in cdktf.out/
#   DJAPP_ENGINE=cdktn scripts/cdk.sh synth   the same with cdktn-cli, on cdktn
#   scripts/cdk.sh deploy                     see docs/deploy.md
# Installs the CLIs into node_modules/ from package-lock.json when missing or stale.
# `synth` needs neither Terraform nor network; `deploy` needs both.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The CLIs otherwise report usage (checkpoint) and ask npm for newer versions.
export CHECKPOINT_DISABLE=1 DISABLE_VERSION_CHECK=1
# The CLI checks that `python3` exists before running the app: make it the project's.
export PATH="$PWD/.venv/bin:$PATH"

if [ ! -x node_modules/.bin/cdktf ] || [ ! -x node_modules/.bin/cdktn ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
case "${DJAPP_ENGINE:-cdktf}" in
  cdktf) exec node_modules/.bin/cdktf "$@" ;;
  # cdktn-cli needs Node.js >= 22.19 (its package.json's engines; on 20 it fails at
  # start): the npm package `node` in package.json puts 22 in node_modules/.bin.
  cdktn) PATH="$PWD/node_modules/.bin:$PATH" exec node_modules/.bin/cdktn "$@" ;;
  *) echo "DJAPP_ENGINE is '$DJAPP_ENGINE'; set it to one of cdktf, cdktn (default cdktf)" >&2; exit 2 ;;
esac
