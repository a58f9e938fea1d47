#!/usr/bin/env python3
"""Loads secretfill's output with the real consumers and prints what they see as JSON.

usage: readback.py yaml FILE        -> {"pyyaml": {...}, "libyaml": {...}, "ruamel": {...}}: env name -> value
       readback.py dotenv FILE      -> python-dotenv's dotenv_values(FILE)
       readback.py docker FILE      -> docker's --env-file reading (a port of opts.ParseEnvFile)
       readback.py spans IN OUT     -> checks OUT differs from IN only in reference scalars; prints their values
"""
import json
import sys


def env_of(docs):
    found = {}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("env", "experimentEnv"):
                    if isinstance(value, list):
                        for entry in value:
                            if isinstance(entry, dict) and "name" in entry and "value" in entry:
                                found[entry["name"]] = entry["value"]
                    elif isinstance(value, dict):
                        found.update({k: v for k, v in value.items() if isinstance(v, str)})
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for doc in docs:
        walk(doc)
    return found


def load_yaml(path):
    import yaml
    from ruamel.yaml import YAML
    text = open(path, encoding="utf-8").read()
    result = {
        "pyyaml": env_of(yaml.load_all(text, Loader=yaml.SafeLoader)),
        "libyaml": env_of(yaml.load_all(text, Loader=yaml.CSafeLoader)),
    }
    ruamel = YAML(typ="safe", pure=True)
    result["ruamel"] = env_of(ruamel.load_all(text))
    return result


def docker(path):
    # A port of docker/cli opts/envfile.go parseKeyValueFile (no environment lookups).
    out = {}
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        line = raw.decode("utf-8").lstrip()
        if not line or line.startswith("#"):
            continue
        if len(raw) >= 64 * 1024:
            raise SystemExit("docker: line %d too long" % number)
        name, sep, value = line.partition("=")
        if not sep:
            continue
        name = name.lstrip()
        if any(c.isspace() for c in name):
            raise SystemExit("docker: variable '%s' contains whitespaces" % name)
        out[name] = value
    return out


def spans(input_path, output_path):
    """Event by event, IN and OUT must agree except scalars secret:NAME -> value,
    and the text between those scalars must be identical."""
    import yaml
    a = open(input_path, encoding="utf-8", newline="").read()
    b = open(output_path, encoding="utf-8", newline="").read()
    ea = list(yaml.parse(a, Loader=yaml.SafeLoader))
    eb = list(yaml.parse(b, Loader=yaml.SafeLoader))
    if len(ea) != len(eb):
        raise SystemExit("event counts differ: %d vs %d" % (len(ea), len(eb)))
    pa = pb = 0
    replaced = []
    for x, y in zip(ea, eb):
        if type(x) is not type(y):
            raise SystemExit("event types differ at %s" % x.start_mark)
        if isinstance(x, yaml.ScalarEvent) and x.value != y.value:
            if not x.value.startswith("secret:"):
                raise SystemExit("a non-reference scalar changed at %s" % x.start_mark)
            # PyYAML marks count characters, which Python strings index by.
            xs, xe = x.start_mark.index, x.end_mark.index
            ys, ye = y.start_mark.index, y.end_mark.index
            if a[pa:xs] != b[pb:ys]:
                raise SystemExit("text before %s changed" % x.start_mark)
            pa, pb = xe, ye
            replaced.append([x.value[len("secret:"):], y.value])
    if a[pa:] != b[pb:]:
        raise SystemExit("text after the last reference changed")
    return replaced


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "yaml":
        print(json.dumps(load_yaml(sys.argv[2])))
    elif mode == "dotenv":
        from dotenv import dotenv_values
        print(json.dumps(dict(dotenv_values(sys.argv[2]))))
    elif mode == "docker":
        print(json.dumps(docker(sys.argv[2])))
    elif mode == "spans":
        print(json.dumps(spans(sys.argv[2], sys.argv[3])))
    else:
        raise SystemExit("unknown mode " + mode)
