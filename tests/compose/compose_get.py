#!/usr/bin/python3
"""compose_get.py - read one service's settings from `docker-compose config`.

The compose smoke test runs each service's command and environment as the
compose file resolves them. docker-compose itself does the interpolation
(${TQ_QUEUE:-default}...); this prints one field of the resolved YAML so a
shell script can read it, items separated by NUL bytes:

    compose_get.py CONFIG.yaml SERVICE command|environment|replicas|volumes|healthcheck|profiles|user

environment prints NAME=value items; volumes prints "host:container" items
("tmpfs:container" for a tmpfs); user prints the user;
healthcheck prints the test command without its leading CMD. Exits 1 naming
the service or field when it is missing.
"""
import sys

import yaml


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, name, field = sys.argv[1:]
    with open(path) as f:
        config = yaml.safe_load(f)
    service = (config.get("services") or {}).get(name)
    if service is None:
        sys.exit(f"compose_get: no service '{name}' in {path}")
    if field == "command":
        items = service.get("command")
        if isinstance(items, str):
            sys.exit(f"compose_get: service '{name}' has a string command; the smoke test needs the list form")
    elif field == "environment":
        env = service.get("environment") or {}
        if isinstance(env, list):
            items = env
        else:
            items = [f"{k}={'' if v is None else v}" for k, v in env.items()]
    elif field == "replicas":
        items = [str((service.get("deploy") or {}).get("replicas", 1))]
    elif field == "volumes":
        items = []
        for v in service.get("volumes") or []:
            if isinstance(v, dict):  # tmpfs mounts have no source: "tmpfs:/data"
                items.append(f"{v.get('source', v['type'])}:{v['target']}")
            else:
                host, target = v.split(":")[:2]
                items.append(f"{host}:{target}")
    elif field == "healthcheck":
        test = (service.get("healthcheck") or {}).get("test")
        if not isinstance(test, list) or not test or test[0] != "CMD":
            sys.exit(f"compose_get: service '{name}' has no [\"CMD\", ...] healthcheck")
        items = test[1:]
    elif field == "user":
        items = [service["user"]] if "user" in service else None
    elif field == "profiles":
        items = service.get("profiles") or []
    else:
        sys.exit(f"compose_get: unknown field '{field}'")
    if items is None:
        sys.exit(f"compose_get: service '{name}' has no {field}")
    sys.stdout.write("".join(str(i) + "\0" for i in items))


if __name__ == "__main__":
    main()
