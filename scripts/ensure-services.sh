#!/usr/bin/env bash
# Make sure the services the integration tests use are running on 127.0.0.1.
#
# Each service is checked by connecting to its port; only a stopped one is
# started, with the command that works both under systemd and in containers
# without it. A service that cannot be started is reported, not fatal: its
# tests then skip with a clear reason.
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port seconds
  for _ in $(seq 1 "$2"); do listening "$1" && return 0; sleep 1; done
  return 1
}

start() {  # name port command...
  local name=$1 port=$2; shift 2
  listening "$port" && return 0
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "ensure-services: $name is not installed; its tests will be skipped" >&2
    return 0
  fi
  echo "ensure-services: starting $name"
  "$@" >/dev/null 2>&1 || true
  wait_for "$port" 60 || echo "ensure-services: $name did not come up on port $port; its tests will be skipped" >&2
}

start_postgresql() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "ensure-services: PostgreSQL is not installed" >&2; return 0; }
  start PostgreSQL 5432 pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_postgresql
start MariaDB 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
start Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
  --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
start RabbitMQ 5672 rabbitmq-server -detached
exit 0
