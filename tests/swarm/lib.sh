# lib.sh - helpers shared by the swarm smoke tests (tests/swarm/smoke.sh,
# tests/swarm/smoke_multi.sh); sourced after tests/compose/lib.sh, not run.
# shellcheck shell=bash

# swarm_base_images: the two base images docker/Dockerfile and the stack use
# (debian:bookworm-slim, redis:7, or TQ_DEBIAN_IMAGE / TQ_REDIS_IMAGE) on
# this engine: pulled when missing; where Docker Hub is unreachable,
# docker/base-images builds them from Debian's packages (needs root and a
# Debian mirror). Returns non-zero (after a FAIL line) when that fails.
swarm_base_images() {
  local img
  for img in "${TQ_DEBIAN_IMAGE:-debian:bookworm-slim}" "${TQ_REDIS_IMAGE:-redis:7}"; do
    docker image inspect "$img" >/dev/null 2>&1 && continue
    if ! timeout 120 docker pull "$img" >/dev/null 2>&1; then
      echo "smoke: cannot pull $img: building the base images locally (docker/base-images)"
      docker/base-images || { t_fail "docker/base-images"; return 1; }
    fi
  done
}
