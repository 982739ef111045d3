#!/usr/bin/python3
"""validate.py - Kubernetes manifests checked against the API's types, no cluster.

    validate.py FILE.yaml...

Every document of every file is walked against the models of the Kubernetes
Python client (Debian's python3-kubernetes, generated from the Kubernetes
OpenAPI specification; 22.6 = API 1.22): the apiVersion and kind must name a
model, every field must be one of its type's fields (a misspelt `comand` is
an error, where kubectl would drop it), every value must have the field's
type (string, integer, boolean, list, map, object), and every required field
must be present (the models' own client-side validation). Then, across the
files: each Deployment's and Job's selector matches its pod labels, and each
Service's selector matches some Deployment's pods.

Prints one line per document ("ok FILE: Kind/name" or the errors, each with
its path, e.g. spec.template.spec.containers[0].comand: unknown field) and
exits 0 when all are valid, 1 otherwise, 2 on a usage or YAML error.
"""
import re
import sys

import yaml

try:
    from kubernetes import client
except ImportError:
    sys.exit("validate.py: python3-kubernetes is missing (apt-get install python3-kubernetes)")

LIST = re.compile(r"^list\[(.*)\]$")
DICT = re.compile(r"^dict\(str, (.*)\)$")
SCALARS = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "datetime": (str,), "date": (str,),
}


def model_for(doc):
    """The client model class of a document's apiVersion and kind, or None."""
    api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    version = api.split("/")[-1]
    return getattr(client, version[:1].upper() + version[1:] + kind, None)


def walk(value, typ, path, errors):
    """Appends to errors what in value does not fit the OpenAPI type typ."""
    where = path or "(document)"
    if typ == "object":
        return  # any JSON value (int-or-string, raw extensions)
    if typ in SCALARS:
        ok = isinstance(value, SCALARS[typ]) and not (typ != "bool" and isinstance(value, bool))
        if not ok:
            errors.append(f"{where}: {value!r} is not a {typ}")
        return
    m = LIST.match(typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{where}: not a list")
            return
        for i, item in enumerate(value):
            walk(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = DICT.match(typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{where}: not a map")
            return
        for k, v in value.items():
            walk(v, m.group(1), f"{path}.{k}", errors)
        return
    cls = getattr(client, typ, None)
    if cls is None:
        errors.append(f"{where}: unknown type {typ} in the client models")
        return
    if not isinstance(value, dict):
        errors.append(f"{where}: not an object ({typ})")
        return
    attr_of = {json: attr for attr, json in cls.attribute_map.items()}
    for key, v in value.items():
        if key not in attr_of:
            errors.append(f"{path + '.' if path else ''}{key}: unknown field of {typ}")
            continue
        if v is not None:
            walk(v, cls.openapi_types[attr_of[key]], f"{path + '.' if path else ''}{key}", errors)
    # required fields: the model's setters refuse None for them
    try:
        cls(**{attr_of[k]: v for k, v in value.items() if k in attr_of})
    except ValueError as e:
        errors.append(f"{where}: {e}")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def main(paths):
    if not paths:
        sys.exit(__doc__)
    docs, bad = [], 0
    for path in paths:
        try:
            with open(path) as f:
                found = [d for d in yaml.safe_load_all(f) if d is not None]
        except (OSError, yaml.YAMLError) as e:
            print(f"validate.py: {path}: {e}", file=sys.stderr)
            sys.exit(2)
        for doc in found:
            name = f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
            errors = []
            cls = model_for(doc)
            if cls is None:
                errors.append(f"apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}: no such API type")
            else:
                walk(doc, cls.__name__, "", errors)
            docs.append((path, name, doc))
            if errors:
                bad += 1
                print(f"INVALID {path}: {name}")
                for e in errors:
                    print(f"  {e}")
            else:
                print(f"ok {path}: {name}")
    # across documents: selectors
    pods = []
    for path, name, doc in docs:
        spec = doc.get("spec") or {}
        if doc.get("kind") in ("Deployment", "Job"):
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if doc.get("kind") == "Deployment":
                pods.append(labels)
                sel = (spec.get("selector") or {}).get("matchLabels")
                if not labels_match(sel, labels):
                    bad += 1
                    print(f"INVALID {path}: {name}: spec.selector.matchLabels {sel} does not match the pod labels {labels}")
    for path, name, doc in docs:
        if doc.get("kind") == "Service":
            sel = (doc.get("spec") or {}).get("selector")
            if not any(labels_match(sel, p) for p in pods):
                bad += 1
                print(f"INVALID {path}: {name}: spec.selector {sel} matches no Deployment's pods")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
