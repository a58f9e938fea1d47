#!/usr/bin/env python3
"""Self-test of verify.py (no secretfill needed).

    selftest.py SPEC VALUES_JSON WORKDIR

Builds a reference rendering of SPEC with a tiny Python span-replacer (each
reference scalar replaced by a double-quoted string, or by a |- / |+ block
scalar for multi-line values in block context), checks that verify.py accepts
it, then checks that verify.py rejects a set of corrupted renderings (changed
comment byte, wrong value, typed-looking value left unquoted, decoy replaced,
unresolved reference, dropped trailing newline).
"""
import json
import os
import subprocess
import sys

import yaml

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def dq(v):
    return json.dumps(v, ensure_ascii=False)


def ref_nodes(text):
    out = []
    for doc in yaml.compose_all(text, Loader=verify.Loader):
        if doc is None:
            continue
        p = verify.Pairing({}, text, text)
        p.mark_refs(doc)
        stack, seen = [doc], set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if id(n) in p.ref_ids:
                out.append(n)
            if isinstance(n, yaml.MappingNode):
                for k, v in n.value:
                    stack += [k, v]
            elif isinstance(n, yaml.SequenceNode):
                stack += n.value
    return sorted(out, key=lambda n: n.start_mark.index)


def in_flow(text, node):
    # crude: the reference sits inside a "{...}" on its line
    line_start = text.rfind("\n", 0, node.start_mark.index) + 1
    return "{" in text[line_start:node.start_mark.index]


def block(text, node, value):
    """|- or |+ block scalar when safe, else None."""
    if "\n" not in value or value.strip("\n") != value.rstrip("\n") or value != value.strip(" \t"):
        return None
    line_start = text.rfind("\n", 0, node.start_mark.index) + 1
    line_end = text.find("\n", node.end_mark.index)
    if text[node.end_mark.index:line_end].strip():     # trailing comment on the line
        return None
    line = text[line_start:line_end]
    indent = len(line) - len(line.lstrip(" "))
    body = value[:-1] if value.endswith("\n") else value
    if value.endswith("\n\n"):
        return None
    pad = " " * (indent + 2 + 4)
    head = "|" if value.endswith("\n") else "|-"
    return head + "".join("\n" + (pad + ln if ln else "") for ln in body.split("\n"))


def render(text, values, use_block=True):
    pieces, pos = [], 0
    for n in ref_nodes(text):
        name = verify.ref_of(n).__str__()
        v = values[name]
        rep = block(text, n, v) if use_block and not in_flow(text, n) else None
        pieces += [text[pos:n.start_mark.index], rep or dq(v)]
        pos = n.end_mark.index
    pieces.append(text[pos:])
    return "".join(pieces)


def run_verify(inp, out, values):
    r = subprocess.run([sys.executable, os.path.join(HERE, "verify.py"), "--input", inp,
                        "--output", out, "--values", values],
                       capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    spec, values_path, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    text = open(spec, encoding="utf-8").read()
    values = json.load(open(values_path, encoding="utf-8"))
    good = render(text, values)
    good_dq = render(text, values, use_block=False)
    cases = {"good-block": (good, 0), "good-dq": (good_dq, 0)}

    first = ref_nodes(text)[0]
    name = verify.ref_of(first)
    cases["comment-byte"] = (good.replace("# uses secret:foo", "# uses secret:fo0", 1), 1)
    cases["wrong-value"] = (good.replace(dq(values[name]), dq(values[name] + "x"), 1), 1)
    t = text
    for n in ref_nodes(text)[::-1]:
        if values[verify.ref_of(n)] == "true":
            t = t[:n.start_mark.index] + "true" + t[n.end_mark.index:]
            break
    cases["unquoted-true"] = (render(t, values), 1)
    cases["decoy-replaced"] = (good.replace('"see secret:name_', '"see secret:nome_', 1), 1)
    cases["unresolved"] = (text, 1)
    cases["no-final-newline"] = (good.rstrip("\n"), 1)
    bad = 0
    for label, (content, want) in cases.items():
        path = os.path.join(work, "selftest-%s.yaml" % label)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        rc, msg = run_verify(spec, path, values_path)
        ok = (rc == 0) == (want == 0)
        bad += not ok
        print("%-18s %s (verify exit %d)%s" % (label, "ok" if ok else "UNEXPECTED", rc,
                                                "" if ok else "\n    " + msg))
    print("%d passed, %d failed" % (len(cases) - bad, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
