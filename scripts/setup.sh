#!/usr/bin/env bash
# Set up opscheck on a fresh Debian machine: system packages (PostgreSQL, Redis, Node.js, Chromium for
# looking at the HTML report), a virtualenv in .venv with opscheck, its test tools and the report extra,
# the reference apps' npm packages and the pinned Allure CLI. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
# a real Pushgateway and promtool for the metrics tests and the alert-rule unit tests
command -v prometheus-pushgateway >/dev/null || need_apt+=(prometheus-pushgateway)
command -v promtool >/dev/null || need_apt+=(prometheus)
# a headless browser for the test that looks at the HTML report (skipped without one)
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
  && ! command -v google-chrome >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    need_apt+=(chromium)
  else
    echo "setup: no Chromium: the report's browser test will be skipped (sudo apt-get install -y chromium)" >&2
  fi
fi
if ((${#need_apt[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need_apt[*]}; install them with: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own; opscheck never uses it (it runs throwaway ones)

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,demo,report]'

# the two reference apps (Next.js + next-auth 4, Next.js + Auth.js v5), from their lock files
for app in examples/nextjs-app examples/authjs-v5-app; do
  (cd "$app" && [ -f node_modules/.opscheck-lock-hash ] || npm ci --no-audit --no-fund --loglevel=error)
done
# the Allure 3 CLI behind `opscheck report` (npm ci from tools/allure's lock file; skipped when current)
.venv/bin/python -c 'from opscheck.reporting.allure_html import install_cli; install_cli(print)'
echo "setup: ready (.venv/bin/opscheck, .venv/bin/python -m pytest)"
