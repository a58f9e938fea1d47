#!/usr/bin/env python3
"""Check a rendered spec before it is timed.

    verify.py --input SPEC --output RENDERED --values VALUES_JSON
              [--data-only] [--env-json ENV.json --select NAME]
    verify.py --input SPEC --values VALUES_JSON --env-json ENV.json --select NAME

References are env values that are exactly ``secret:NAME`` (NAME matching
[A-Za-z_][A-Za-z0-9_.-]*), where an env value is the ``value`` of an item of a
list under an ``env`` key, or a value of a mapping under an ``env`` key.

Checks (exit 1 with a message on the first failure of each kind):
  1. structure: input and output compose (PyYAML, libyaml-backed) to the same
     node graph -- same documents, node kinds, tags, scalar values and alias
     sharing -- except that every reference scalar becomes a scalar that
     resolves to a string equal to the store value, exactly;
  2. bytes (skipped with --data-only): output == input with only the
     reference scalars' spans replaced.  Spans come from the composed nodes'
     marks (PyYAML marks count characters, so both files are decoded as
     UTF-8 and compared as text; the output must be valid UTF-8).  A block
     scalar (| or >) replacement's span is trimmed of trailing blank lines;
  3. data: yaml.load_all of the output equals yaml.load_all of the input with
     references replaced by their values (merge keys, anchors resolved).
With --env-json, the JSON printed by `secretfill env --select NAME --format
json` must equal the resolved env of the container named NAME (a JSON object
name -> value, or a list of {name, value} objects).

--data-only runs checks 3 (and the env check) only: used for the PyYAML peer,
whose output is re-serialized.  Without --output only the env check runs.
"""
import argparse
import json
import os
import re
import sys

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

REF = re.compile(r"secret:([A-Za-z_][A-Za-z0-9_.-]*)\Z")
STR = "tag:yaml.org,2002:str"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Fail(Exception):
    pass


def where(text, idx):
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return "line %d col %d" % (line, col)


def ctx(text, idx, n=60):
    return repr(text[max(0, idx - n):idx] + "⟦HERE⟧" + text[idx:idx + n])


def ref_of(node):
    if isinstance(node, ScalarNode) and node.tag == STR:
        m = REF.match(node.value)
        if m:
            return m.group(1)
    return None


def env_value_nodes(env_node):
    """Yields the scalar value nodes of an env block (list form or mapping form)."""
    if isinstance(env_node, SequenceNode):
        for item in env_node.value:
            if isinstance(item, MappingNode):
                for k, v in item.value:
                    if isinstance(k, ScalarNode) and k.value == "value":
                        yield v
    elif isinstance(env_node, MappingNode):
        for _k, v in env_node.value:
            yield v


class Pairing:
    """Parallel walk of input/output node graphs."""

    def __init__(self, values, in_text, out_text):
        self.values = values
        self.in_text = in_text
        self.out_text = out_text
        self.seen = {}          # id(input node) -> output node
        self.spans = []         # (in_start, in_end, out_start, out_end, name)
        self.ref_ids = set()

    def mark_refs(self, root):
        stack, visited = [root], set()
        while stack:
            n = stack.pop()
            if id(n) in visited:
                continue
            visited.add(id(n))
            if isinstance(n, MappingNode):
                for k, v in n.value:
                    if isinstance(k, ScalarNode) and k.tag == STR and k.value == "env":
                        for vn in env_value_nodes(v):
                            if ref_of(vn):
                                self.ref_ids.add(id(vn))
                    stack += [k, v]
            elif isinstance(n, SequenceNode):
                stack += n.value

    def fail(self, a, b, msg):
        raise Fail("%s\n  input  %s: %s\n  output %s: %s" % (
            msg, where(self.in_text, a.start_mark.index), ctx(self.in_text, a.start_mark.index),
            where(self.out_text, b.start_mark.index), ctx(self.out_text, b.start_mark.index)))

    def walk(self, a, b):
        stack = [(a, b)]
        while stack:
            a, b = stack.pop()
            if id(a) in self.seen:
                if self.seen[id(a)] is not b:
                    self.fail(a, b, "alias structure differs (shared node not shared in output)")
                continue
            self.seen[id(a)] = b
            if id(a) in self.ref_ids:
                name = ref_of(a)
                if name not in self.values:
                    raise Fail("input references %r which is not in the values file" % name)
                if not isinstance(b, ScalarNode):
                    self.fail(a, b, "reference secret:%s became a %s" % (name, type(b).__name__))
                if b.tag != STR:
                    self.fail(a, b, "reference secret:%s rendered as %s, not a string (value %r)"
                              % (name, b.tag, b.value))
                if b.value != self.values[name]:
                    self.fail(a, b, "reference secret:%s rendered to %r, expected %r"
                              % (name, b.value, self.values[name]))
                self.spans.append((a, b, name))
                continue
            if type(a) is not type(b):
                self.fail(a, b, "node kind differs: %s vs %s" % (type(a).__name__, type(b).__name__))
            if a.tag != b.tag:
                self.fail(a, b, "tag differs: %s vs %s" % (a.tag, b.tag))
            if isinstance(a, ScalarNode):
                if a.value != b.value:
                    ref = ref_of(a)
                    why = " (a secret: string outside env positions must stay)" if ref else ""
                    self.fail(a, b, "scalar differs: %r vs %r%s" % (a.value, b.value, why))
            else:
                if len(a.value) != len(b.value):
                    self.fail(a, b, "collection length differs: %d vs %d" % (len(a.value), len(b.value)))
                if isinstance(a, MappingNode):
                    for (ka, va), (kb, vb) in zip(a.value, b.value):
                        stack += [(va, vb), (ka, kb)]
                else:
                    stack += list(zip(a.value, b.value))


def span(node, text):
    s, e = node.start_mark.index, node.end_mark.index
    if getattr(node, "style", None) in ("|", ">"):
        while e > s and text[e - 1] in " \t\r\n":
            e -= 1
    return s, e


def check_bytes(p):
    pos_in = pos_out = 0
    intext, outtext = p.in_text, p.out_text
    spans = sorted(p.spans, key=lambda t: t[0].start_mark.index)
    for a, b, name in spans:
        s_in, e_in = span(a, intext)
        s_out, e_out = span(b, outtext)
        if s_out < pos_out:
            raise Fail("output reference spans out of order near %s" % where(outtext, s_out))
        seg_in, seg_out = intext[pos_in:s_in], outtext[pos_out:s_out]
        if seg_in != seg_out:
            raise_diff(intext, outtext, pos_in, pos_out, seg_in, seg_out)
        pos_in, pos_out = e_in, e_out
    if intext[pos_in:] != outtext[pos_out:]:
        raise_diff(intext, outtext, pos_in, pos_out, intext[pos_in:], outtext[pos_out:])
    return len(spans)


def raise_diff(intext, outtext, pos_in, pos_out, seg_in, seg_out):
    i = 0
    n = min(len(seg_in), len(seg_out))
    while i < n and seg_in[i] == seg_out[i]:
        i += 1
    raise Fail("bytes outside references changed\n  input  %s: %s\n  output %s: %s" % (
        where(intext, pos_in + i), ctx(intext, pos_in + i),
        where(outtext, pos_out + i), ctx(outtext, pos_out + i)))


def resolve_data(node, values):
    """Same walk as the peer: replace env references in loaded data."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "env":
                if isinstance(v, list):
                    for item in v:
                        if isinstance(item, dict) and isinstance(item.get("value"), str):
                            m = REF.match(item["value"])
                            if m:
                                item["value"] = values[m.group(1)]
                elif isinstance(v, dict):
                    for name, val in v.items():
                        if isinstance(val, str):
                            m = REF.match(val)
                            if m:
                                v[name] = values[m.group(1)]
            else:
                resolve_data(v, values)
    elif isinstance(node, list):
        for item in node:
            resolve_data(item, values)


def first_diff(x, y, path="$"):
    if type(x) is not type(y):
        return "%s: %r vs %r" % (path, x, y)
    if isinstance(x, dict):
        if list(x) != list(y) and set(x) != set(y):
            return "%s: keys %s vs %s" % (path, sorted(map(str, x)), sorted(map(str, y)))
        for k in x:
            d = first_diff(x[k], y[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(x, list):
        if len(x) != len(y):
            return "%s: length %d vs %d" % (path, len(x), len(y))
        for i, (a, b) in enumerate(zip(x, y)):
            d = first_diff(a, b, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if x == y else "%s: %r vs %r" % (path, x, y)


def find_container_env(docs, select):
    found = []

    def walk(n):
        if isinstance(n, dict):
            if n.get("name") == select and isinstance(n.get("env"), list):
                found.append(n["env"])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
    for d in docs:
        walk(d)
    return found


def check_env(a, in_data):
    """in_data: input documents with references already resolved."""
    if not a.select:
        raise Fail("--env-json needs --select")
    envs = find_container_env(in_data, a.select)
    if len(envs) != 1:
        raise Fail("container %r found %d times in input" % (a.select, len(envs)))
    expected = {}
    for item in envs[0]:
        if "value" in item:
            expected[item["name"]] = item["value"]
    try:
        got = json.load(open(a.env_json, encoding="utf-8"))
    except ValueError as e:
        raise Fail("env output is not JSON: %s" % e)
    if isinstance(got, list) and all(isinstance(d, dict) and "name" in d for d in got):
        got = {d["name"]: d.get("value") for d in got}
    if not isinstance(got, dict):
        raise Fail("env JSON is neither an object nor a list of {name, value}: %.200r" % got)
    if got != expected:
        d = first_diff(expected, got)
        raise Fail("env --select %s JSON differs (expected vs got): %s" % (a.select, d))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output")
    ap.add_argument("--values", required=True)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--env-json")
    ap.add_argument("--select")
    a = ap.parse_args()
    label = os.path.basename(a.output or a.env_json or "")
    if not a.output and not a.env_json:
        ap.error("give --output and/or --env-json")
    try:
        with open(a.values, encoding="utf-8") as f:
            values = json.load(f)
        in_bytes = open(a.input, "rb").read()
        in_text = in_bytes.decode("utf-8")
        if not a.output:
            in_data = list(yaml.load_all(in_text, Loader=Loader))
            for doc in in_data:
                resolve_data(doc, values)
            check_env(a, in_data)
            print("OK %s: env JSON for %s matches the resolved input" % (label, a.select))
            return
        out_bytes = open(a.output, "rb").read()
        if not out_bytes:
            raise Fail("output is empty")
        try:
            out_text = out_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Fail("output is not valid UTF-8: %s" % e)

        n_refs = None
        if not a.data_only:
            in_docs = list(yaml.compose_all(in_text, Loader=Loader))
            try:
                out_docs = list(yaml.compose_all(out_text, Loader=Loader))
            except yaml.YAMLError as e:
                raise Fail("output does not parse as YAML: %s" % e)
            if len(in_docs) != len(out_docs):
                raise Fail("document count differs: %d vs %d" % (len(in_docs), len(out_docs)))
            p = Pairing(values, in_text, out_text)
            for da, db in zip(in_docs, out_docs):
                if da is None or db is None:
                    if (da is None) != (db is None):
                        raise Fail("empty document mismatch")
                    continue
                p.mark_refs(da)
                p.walk(da, db)
            n_refs = check_bytes(p)
            del in_docs, out_docs, p

        in_data = list(yaml.load_all(in_text, Loader=Loader))
        try:
            out_data = list(yaml.load_all(out_text, Loader=Loader))
        except yaml.YAMLError as e:
            raise Fail("output does not load as YAML: %s" % e)
        for doc in in_data:
            resolve_data(doc, values)
        if len(in_data) != len(out_data):
            raise Fail("document count differs: %d vs %d" % (len(in_data), len(out_data)))
        for i, (x, y) in enumerate(zip(in_data, out_data)):
            d = first_diff(x, y)
            if d:
                raise Fail("loaded data differs in document %d (expected vs got): %s" % (i + 1, d))

        if a.env_json:
            check_env(a, in_data)

        msg = "OK %s: %d documents" % (label, len(in_data))
        if n_refs is not None:
            msg += ", %d references resolved, all other bytes unchanged" % n_refs
        else:
            msg += ", loaded data matches (data-only)"
        if a.env_json:
            msg += ", env JSON for %s matches" % a.select
        print(msg)
    except Fail as e:
        print("VERIFY FAILED for %s: %s" % (label, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
