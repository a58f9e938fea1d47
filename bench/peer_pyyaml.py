#!/usr/bin/env python3
"""The "PyYAML way" of filling secrets, as users do it today.

    peer_pyyaml.py SPEC VALUES_JSON > rendered.yaml

Loads every document with yaml.load_all(Loader=CSafeLoader), walks every
``env`` block -- a list of {name, value} mappings (Kubernetes containers,
Paperspace) or a NAME: value mapping (Gradient) -- replaces values that are
exactly ``secret:NAME`` with the plaintext value from VALUES_JSON, and writes
everything back with yaml.dump_all(Dumper=CSafeDumper).  Comments, anchors,
merge keys, quoting and key order of the original are lost (that is the point
of the comparison).
"""
import json
import re
import sys

import yaml

REF = re.compile(r"secret:([A-Za-z_][A-Za-z0-9_.-]*)\Z")


def resolve(value, values):
    if isinstance(value, str):
        m = REF.match(value)
        if m:
            return values[m.group(1)]
    return value


def walk(node, values):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "env":
                if isinstance(v, list):
                    for item in v:
                        if isinstance(item, dict) and "value" in item:
                            item["value"] = resolve(item["value"], values)
                elif isinstance(v, dict):
                    for name in v:
                        v[name] = resolve(v[name], values)
            else:
                walk(v, values)
    elif isinstance(node, list):
        for item in node:
            walk(item, values)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: peer_pyyaml.py SPEC VALUES_JSON")
    with open(sys.argv[2], encoding="utf-8") as f:
        values = json.load(f)
    with open(sys.argv[1], "rb") as f:
        docs = list(yaml.load_all(f, Loader=yaml.CSafeLoader))
    for doc in docs:
        walk(doc, values)
    yaml.dump_all(docs, sys.stdout, Dumper=yaml.CSafeDumper,
                  sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    main()
