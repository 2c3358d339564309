#!/usr/bin/env bash
# Makes sure the services the integration and end-to-end suites need are running on 127.0.0.1:
# PostgreSQL on 5432 (trust auth for user postgres) and NATS with JetStream on 4222. Installs them
# with apt-get when they are absent (needs root, as on CI), starts them when they are stopped.
# Also installs Prometheus's promtool and server (Debian's prometheus) for the rules and dashboard
# tests.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
updated=0
apt_install() {
  if [ "$updated" = 0 ]; then as_root apt-get update -qq; updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"
  apt_install postgresql
fi
cluster_version=$(ls /etc/postgresql | sort -V | tail -n1)
if ! port_open 5432; then
  echo "starting PostgreSQL $cluster_version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start || true
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  # Debian asks for a password on TCP by default; the suites use trust on 127.0.0.1 only.
  hba="/etc/postgresql/$cluster_version/main/pg_hba.conf"
  as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main reload
  sleep 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null
echo "PostgreSQL ready on 127.0.0.1:5432"

# NATS with JetStream
if [ ! -x /usr/sbin/nats-server ]; then
  echo "installing nats-server"
  apt_install nats-server
fi
if ! port_open 4222; then
  echo "starting nats-server with JetStream"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 30); do port_open 4222 && break; sleep 1; done
fi
port_open 4222
echo "NATS ready on 127.0.0.1:4222"

# openssl: the TLS tests make a CA and certificates with it.
if ! command -v openssl >/dev/null 2>&1; then
  echo "installing openssl"
  apt_install openssl
fi

# Prometheus: promtool checks and unit-tests the alert rules, and the dashboard test runs a real
# Prometheus server on a port of its own (nothing is started here).
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "installing prometheus (promtool)"
  apt_install prometheus
fi
echo "promtool $(promtool --version 2>&1 | head -n1 | awk '{print $3}') ready"
