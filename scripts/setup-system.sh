#!/usr/bin/env bash
# Installs the system packages ShopPulse's tests and demo use: Prometheus, promtool,
# Alertmanager and amtool (Debian packages), kcat and curl (non-Python clients in tests).
# Needs root for apt-get; without root it says what is missing and carries on.
set -euo pipefail

packages=(prometheus prometheus-alertmanager kcat curl)
# The commands as the packages install them, and as the tests look them up: Debian's
# Alertmanager is /usr/bin/prometheus-alertmanager (there is no `alertmanager`).
commands=(prometheus promtool prometheus-alertmanager amtool kcat curl)

missing=()
for cmd in "${commands[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: missing ${missing[*]}; run as root or: sudo apt-get install ${packages[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts nothing by itself in a container, but stop the services in case a
# full init system runs them: ShopPulse starts its own on loopback ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    (command -v systemctl >/dev/null 2>&1 && systemctl disable --now "$svc" >/dev/null 2>&1) || true
done
