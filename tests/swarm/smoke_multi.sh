#!/usr/bin/env bash
# smoke_multi.sh - docker/stack.yaml on a swarm of two Docker engines on this
# one machine: `just swarm-smoke-multi` (needs root, ip netns, dockerd,
# docker-registry, openssl and a running Docker engine; not run by CI).
#
# Node 1 is the running engine (DOCKER_HOST or the default socket), in no
# swarm. Node 2 is a second dockerd, started here in its own network
# namespace (tqswarm2, joined to the host by the veth pair tqsw-h 10.99.0.1 /
# tqsw-n 10.99.0.2) with its own data-root, exec-root, socket, pidfile,
# cgroup parent and hostname (tqnode2); dockerd starts its own containerd.
# Then, as WORKER_SETUP.md's "Several hosts" says:
#   - node 1: `docker swarm init --advertise-addr 10.99.0.1`; node 2 joins
#     as a worker over the veth (10.99.0.1:2377), and the stack's overlay
#     network carries the workers' traffic to Redis between the two (VXLAN);
#   - node 2 is labelled tqbench.worker; docker/swarm up labels node 1
#     tqbench.redis and tqbench.worker: Redis on node 1, workers on both;
#   - the images reach node 2 through a registry: Debian's docker-registry on
#     10.99.0.1:5000 with TLS (a throwaway self-signed certificate, trusted
#     by both engines through /etc/docker/certs.d/10.99.0.1:5000/ca.crt, so
#     neither engine needs --insecure-registry), the three images pushed
#     there and named by TQ_IMAGE, TQ_CELERY_IMAGE, TQ_REDIS_IMAGE; each node
#     pulls what its tasks need.
# tests/swarm/smoke.sh then runs on that swarm with TQ_SMOKE_WORKERS (4)
# worker replicas and TQ_SMOKE_NODES=2: the replicas on both nodes, exact
# counts, every replica's heartbeat in the results.json recovered from
# `docker service logs`, twice, and the stack removed. Last, everything this
# script made is undone, in reverse: node 2 leaves the swarm and is removed
# from it, node 1 leaves (with the docker_gwbridge its init made), the
# registry's tags on node 1, the registry (stopped by pid), the certificate
# folder, node 2's engine (stopped by pid, and its containerd), its data,
# exec-root, socket and pidfile, the netns and the veth (and /run/netns
# when its `ip netns add` made it); then checks that
# nothing of it remains (processes, netns, links, mounts, files) and that
# node 1's swarm state and networks are as before.
#
# Refuses (exit 2) when node 1 is in a swarm, or when a name or address it
# would create is taken: it deletes only what it made. Every process it
# starts is stopped by its pid. PASS/FAIL lines, "N passed, N failed"
# (smoke.sh's lines included); exit 0 only when all passed.
#
#   tests/swarm/smoke_multi.sh   (as root; COMPOSE as docker/swarm says)
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/compose/lib.sh"
. "$SRC/tests/swarm/lib.sh"
cd "$SRC" || exit 2
N=${TQ_SMOKE_WORKERS:-4}
NS=tqswarm2
VETH_HOST=tqsw-h
VETH_NODE=tqsw-n
IP1=10.99.0.1
IP2=10.99.0.2
NAME2=tqnode2
DATA2=/var/lib/docker-$NAME2
EXEC2=/run/docker-$NAME2
SOCK2=/run/docker-$NAME2.sock
PID2FILE=/run/docker-$NAME2.pid
REG=$IP1:5000
CERTS=/etc/docker/certs.d/$REG
COMPOSE=${COMPOSE:-docker-compose -f docker/compose.yaml}
START=$(date +%s)

say() { echo "smoke_multi: $*"; }
refuse() { say "$*"; exit 2; }
node2() { docker --host "unix://$SOCK2" "$@"; }

# --- what must hold before anything is made -------------------------------
[ "$(id -u)" = 0 ] || refuse "needs root (ip netns, a second dockerd)"
for c in ip nsenter unshare dockerd docker-registry openssl; do
  command -v "$c" >/dev/null || refuse "$c not found (docker-registry: apt-get install docker-registry)"
done
docker info >/dev/null 2>&1 || refuse "no Docker engine answers (docker info): start one (dockerd) first"
[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ] ||
  refuse "this engine is in a swarm: this test makes its own (docker swarm leave first)"
[ -e .run/swarm ] && refuse ".run/swarm exists: a stack of docker/swarm is up; just swarm-down first"
[ -e "/run/netns/$NS" ] && refuse "netns $NS exists"
for l in "$VETH_HOST" "$VETH_NODE"; do ip link show "$l" >/dev/null 2>&1 && refuse "link $l exists"; done
ip -4 -o addr | grep -q " 10\.99\.0\." && refuse "10.99.0.0/24 is in use on this host"
for p in "$DATA2" "$EXEC2" "$SOCK2" "$PID2FILE" "$CERTS"; do [ -e "$p" ] && refuse "$p exists"; done

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-swarm-multi.XXXXXX")
MADE=()   # what was made, for teardown: netns, node2, certs, certs.d, registry, swarm, gwbridge, joined, tags
made() { MADE+=("$1"); }
was_made() { local m; for m in "${MADE[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }

# node 1 as the test must leave it (smoke.sh checks its stack's part)
state1() { docker info --format 'swarm={{.Swarm.LocalNodeState}}'; docker network ls --format 'network={{.Name}}' | sort; }
state1 >"$T_TMP/before"

CONTAINERD2="" NODE2_PID="" REG_PID=""
teardown() {
  local id2 t
  if was_made joined; then
    t=$SECONDS
    node2 swarm leave --force >/dev/null 2>&1 && say "node 2 left the swarm ($(( SECONDS - t )) s)"
    id2=$(cat "$T_TMP/node2.id" 2>/dev/null)
    [ -n "$id2" ] && for _ in $(seq 30); do   # a node is removed once it is down
      docker node rm --force "$id2" >/dev/null 2>&1 && break; sleep 1; done
  fi
  if was_made swarm; then
    t=$SECONDS
    docker swarm leave --force >/dev/null && say "node 1 left the swarm ($(( SECONDS - t )) s)"
    was_made gwbridge && docker network rm docker_gwbridge >/dev/null
  fi
  if was_made tags; then
    docker rmi "$REG/tqbench:local" "$REG/tqbench-celery:local" "$REG/redis:7" >/dev/null 2>&1
  fi
  if was_made registry; then t=$SECONDS; t_stop "$REG_PID" 10; say "registry stopped ($(( SECONDS - t )) s)"; fi
  if was_made certs; then rm -rf "$CERTS"; was_made certs.d && rm -rf /etc/docker/certs.d; fi
  if was_made node2; then
    t=$SECONDS
    t_stop "$NODE2_PID" 60
    say "node 2's dockerd stopped ($(( SECONDS - t )) s)"
    # dockerd stops its containerd; should it not, by that containerd's pid
    [ -n "$CONTAINERD2" ] && t_alive "$CONTAINERD2" && { kill -TERM "$CONTAINERD2"; sleep 2; t_alive "$CONTAINERD2" && kill -KILL "$CONTAINERD2"; }
    # network namespaces of its sandboxes that it left mounted
    grep -o " $EXEC2/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount >/dev/null 2>&1
    rm -rf "$DATA2" "$EXEC2" "$SOCK2" "$PID2FILE"
  fi
  if was_made netns; then ip netns del "$NS"; ip link del "$VETH_HOST" >/dev/null 2>&1; fi
  # the first `ip netns add` made /run/netns, a bind mount of itself
  if was_made run-netns && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    umount /run/netns 2>/dev/null; rmdir /run/netns 2>/dev/null
  fi
  MADE=()
}
trap 'teardown; t_cleanup' EXIT

# --- node 2: a netns, a veth pair, a second engine ------------------------
RUN_NETNS_MADE=0
[ -e /run/netns ] || { made run-netns; RUN_NETNS_MADE=1; }
ip netns add "$NS" && made netns &&
  ip link add "$VETH_HOST" type veth peer name "$VETH_NODE" &&
  ip link set "$VETH_NODE" netns "$NS" &&
  ip addr add "$IP1/24" dev "$VETH_HOST" && ip link set "$VETH_HOST" up &&
  ip -n "$NS" addr add "$IP2/24" dev "$VETH_NODE" && ip -n "$NS" link set "$VETH_NODE" up &&
  ip -n "$NS" link set lo up && ip -n "$NS" route add default via "$IP1" ||
  { t_fail "netns $NS and veth $VETH_HOST/$VETH_NODE"; exit 1; }

mkdir -p "$DATA2"; made node2
# nsenter --net, not `ip netns exec`: that one also remounts /sys, where
# dockerd then finds no cgroups ("Devices cgroup isn't mounted"); unshare
# --uts gives node 2 its own hostname for `docker node ls`; each execs, so
# the pid is dockerd's
t_spawn "$T_TMP/node2.log" nsenter --net="/run/netns/$NS" unshare --uts \
  sh -c "hostname $NAME2 && exec dockerd --storage-driver vfs --data-root $DATA2 --exec-root $EXEC2 \
    --pidfile $PID2FILE --host unix://$SOCK2 --cgroup-parent /$NAME2"
NODE2_PID=$T_LAST_PID
for _ in $(seq 120); do node2 info >/dev/null 2>&1 && break; t_alive "$NODE2_PID" || break; sleep 0.5; done
if node2 info >/dev/null 2>&1; then
  CONTAINERD2=$(cat "$EXEC2/containerd/containerd.pid" 2>/dev/null)
  t_pass "node 2: dockerd (pid $NODE2_PID, containerd ${CONTAINERD2:-?}) in netns $NS at $IP2, hostname $(node2 info --format '{{.Name}}')"
else
  t_fail "node 2: dockerd did not answer on $SOCK2; its log:"; tail -n 20 "$T_TMP/node2.log"; exit 1
fi

# --- a registry both engines reach and trust ------------------------------
mkdir -p "$T_TMP/registry"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$IP1" -addext "subjectAltName=IP:$IP1" \
  -keyout "$T_TMP/registry/key.pem" -out "$T_TMP/registry/cert.pem" >/dev/null 2>&1 ||
  { t_fail "openssl: a certificate for $IP1"; exit 1; }
cat >"$T_TMP/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T_TMP/registry/data
http:
  addr: $REG
  tls:
    certificate: $T_TMP/registry/cert.pem
    key: $T_TMP/registry/key.pem
EOF
[ -d /etc/docker/certs.d ] || made certs.d
mkdir -p "$CERTS" && made certs && cp "$T_TMP/registry/cert.pem" "$CERTS/ca.crt"
t_spawn "$T_TMP/registry/log" docker-registry serve "$T_TMP/registry/config.yml"
REG_PID=$T_LAST_PID; made registry
for _ in $(seq 50); do
  [ "$(ip netns exec "$NS" curl -s --cacert "$CERTS/ca.crt" "https://$REG/v2/" 2>/dev/null)" = "{}" ] && break
  sleep 0.2
done
if [ "$(ip netns exec "$NS" curl -s --cacert "$CERTS/ca.crt" "https://$REG/v2/")" = "{}" ]; then
  t_pass "registry: docker-registry (pid $REG_PID) at https://$REG, reached from node 2's netns"
else
  t_fail "registry at https://$REG: no answer from node 2's netns; its log:"; tail -n 10 "$T_TMP/registry/log"; exit 1
fi

# --- the swarm: node 1 manager, node 2 worker ------------------------------
docker network inspect docker_gwbridge >/dev/null 2>&1 || made gwbridge
if docker swarm init --advertise-addr "$IP1" >/dev/null && made swarm &&
   node2 swarm join --token "$(docker swarm join-token -q worker)" --advertise-addr "$IP2" "$IP1:2377" >/dev/null &&
   made joined; then
  node2 info --format '{{.Swarm.NodeID}}' >"$T_TMP/node2.id"
  docker node update --label-add tqbench.worker=true "$(cat "$T_TMP/node2.id")" >/dev/null
  t_pass "swarm: node 1 manager at $IP1, node 2 joined as a worker; $(docker node ls --format '{{.Hostname}} {{.Status}}' | sort | tr '\n' ' ')"
else
  t_fail "swarm init / join"; exit 1
fi

# --- the images, through the registry ----------------------------------------
swarm_base_images || exit 1
t0=$(date +%s)
if $COMPOSE --profile celery build >"$T_TMP/build.log" 2>&1; then
  t_pass "images built ($COMPOSE --profile celery build, $(( $(date +%s) - t0 )) s)"
else
  t_fail "image build:"; tail -n 20 "$T_TMP/build.log"; exit 1
fi
t0=$(date +%s)
made tags
ok=1
for img in tqbench:local tqbench-celery:local "${TQ_REDIS_IMAGE:-redis:7}"; do
  docker tag "$img" "$REG/${img##*/}" && docker push "$REG/${img##*/}" >>"$T_TMP/push.log" 2>&1 || ok=0
done
if [ "$ok" = 1 ]; then t_pass "images pushed to $REG ($(( $(date +%s) - t0 )) s)"
else t_fail "docker push to $REG:"; tail -n 10 "$T_TMP/push.log"; exit 1; fi

# --- the single-node smoke test, on both nodes ----------------------------------
t0=$(date +%s)
TQ_SMOKE_WORKERS=$N TQ_SMOKE_NODES=2 COMPOSE=$COMPOSE TQ_IMAGE="$REG/tqbench:local" \
  TQ_CELERY_IMAGE="$REG/tqbench-celery:local" TQ_REDIS_IMAGE="$REG/redis:7" \
  bash tests/swarm/smoke.sh >"$T_TMP/smoke.log" 2>&1
sed 's/^/  smoke.sh: /' "$T_TMP/smoke.log"
T_PASSED=$(( T_PASSED + $(grep -c '^PASS: ' "$T_TMP/smoke.log") ))
T_FAILED=$(( T_FAILED + $(grep -c '^FAIL: ' "$T_TMP/smoke.log") ))
grep -q '^PASS: ' "$T_TMP/smoke.log" || t_fail "tests/swarm/smoke.sh ran no check"
say "smoke.sh on two nodes: $(( $(date +%s) - t0 )) s"
pulled=$(node2 images --format '{{.Repository}}:{{.Tag}}' | sort | paste -sd' ')
case " $pulled " in
  *" $REG/tqbench:local "*) t_pass "node 2 pulled its worker image from the registry ($pulled)" ;;
  *) t_fail "node 2 has no $REG/tqbench:local (images: ${pulled:-none})" ;;
esac

# --- undo, then check that nothing of it remains ------------------------------
REG_PID_WAS=$REG_PID NODE2_PID_WAS=$NODE2_PID
t0=$(date +%s)
teardown
say "teardown: $(( $(date +%s) - t0 )) s"
left=()
for p in "$NODE2_PID_WAS" "$REG_PID_WAS" $CONTAINERD2; do t_alive "$p" && left+=("process $p"); done
[ -e "/run/netns/$NS" ] && left+=("netns $NS")
[ "$RUN_NETNS_MADE" = 1 ] && [ -e /run/netns ] && left+=("/run/netns")
ip netns list | grep -qw "$NS" && left+=("netns $NS (ip netns)")
for l in "$VETH_HOST" "$VETH_NODE"; do ip link show "$l" >/dev/null 2>&1 && left+=("link $l"); done
grep -qE " ($DATA2|$EXEC2|/run/netns/$NS)[/ ]" /proc/self/mounts && left+=("mounts: $(grep -oE " ($DATA2|$EXEC2|/run/netns/$NS)[^ ]*" /proc/self/mounts | tr '\n' ' ')")
for p in "$DATA2" "$EXEC2" "$SOCK2" "$PID2FILE" "$CERTS"; do [ -e "$p" ] && left+=("$p"); done
docker image inspect "$REG/tqbench:local" >/dev/null 2>&1 && left+=("tag $REG/tqbench:local on node 1")
if [ ${#left[@]} -eq 0 ]; then
  t_pass "node 2, its netns, veth, registry and certificate removed: no process, netns, link, mount or file of them remains"
else
  t_fail "left behind: ${left[*]}"
fi
state1 >"$T_TMP/after"
if diff "$T_TMP/before" "$T_TMP/after" >"$T_TMP/diff"; then
  t_pass "node 1 as before: $(tr '\n' ' ' <"$T_TMP/before")"
else
  t_fail "node 1 changed (before/after):"; cat "$T_TMP/diff"
fi
say "$(( $(date +%s) - START )) s"
t_summary
