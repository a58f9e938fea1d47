#!/usr/bin/env python3
"""Deterministic generator of benchmark inputs for secretfill.

Spec stream (``--entries N --out FILE``): a multi-document YAML stream mixing
  * Kubernetes Deployments (several containers; env as a list of
    ``- name: X`` / ``value: Y`` mappings, some ``valueFrom`` entries, some flow
    entries ``- {name: X, value: Y}``),
  * Paperspace deployment specs (top-level image/port/env list/resources),
  * Gradient workflows (``defaults: {env: {K: v}}`` and ``jobs.<job>.env``
    as a NAME: value mapping),
  * documents without env (ConfigMaps with comments, block scalars ``|``/``>``,
    flow style),
with anchors and merge keys (``<<: *x``) on non-env parts only, comments
everywhere, non-ASCII text, and decoys (``# uses secret:foo`` comments,
``note: "see secret:foo"`` and ``secret:`` strings outside env blocks) that are
NOT references.  Env entries with secret-looking names (~30% of entries) are
``secret:name_NNN`` (plain, 'single' or "double" quoted) over ~200 names.

The only ``env`` keys in the stream are real env blocks (container env,
Paperspace top-level env, Gradient defaults/job env).

One container in the last Deployment is named ``bench-target`` (unique in the
stream, it has refs and no ``valueFrom``); the benchmark uses it for
``secretfill env --select bench-target``.

Store values (``--store-out FILE``): JSON object name -> awkward value for all
referenced names (name_000..name_{R-1}); ``--store-names K`` pads the object
with filler names up to K names (for the 200 vs 10,000 secrets comparison).

Small spec (``--small --out FILE``): a few dozen lines referencing 3 names.

``--stats-out FILE`` writes JSON counts (bytes, documents, entries, refs).
"""
import argparse
import json
import random
import sys

REF_NAMES = 200          # name_000 .. name_199

ENV_WORDS = [
    "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "REDIS_URL",
    "API_TOKEN", "API_BASE_URL", "LOG_LEVEL", "LOG_FORMAT", "FEATURE_FLAGS",
    "SENTRY_DSN", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET",
    "CACHE_TTL", "HTTP_PROXY", "NO_PROXY", "TZ", "LANG", "WORKERS",
    "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "SMTP_HOST", "SMTP_PASSWORD",
    "STRIPE_KEY", "GRPC_ADDR", "OTEL_EXPORTER_OTLP_ENDPOINT", "JAVA_OPTS",
    "MODEL_PATH", "HF_TOKEN", "WANDB_API_KEY", "CUDA_VISIBLE_DEVICES",
    "JWT_SIGNING_KEY", "GITHUB_TOKEN", "SESSION_SECRET",
]
SECRETISH = ("PASSWORD", "TOKEN", "SECRET", "_KEY", "DSN")


def secretish(name):
    """Secret-looking env names get a secret:<name> reference (~30% of entries)."""
    return any(w in name for w in SECRETISH)

PLAIN_VALUES = [
    "db.internal", "info", "json", "eu-west-1", "https://api.example.com/v2",
    "Europe/Paris", "C.UTF-8", "/models/latest", "0,1",
    "-Xmx512m -XX:+UseG1GC", "127.0.0.1,localhost,.svc", "Café ☕ crème",
    "日本語テキスト", "http://proxy.corp:3128", "a=1,b=2", "enabled",
]
# env values that need quoting to stay strings (kept as they are)
QUOTED_VALUES = ['"8080"', '"5432"', "'4'", '"300"', '"true"', "'0x1F'", '"1e3"', "'~'", '"null"', '""',
                 "'it''s fine'", '"tab\\tsep"', '"naïve — ok"']

COMMENTS = [
    "# uses secret:foo for the database",
    "# TODO(équipe): rotate secret:legacy_token before Q3",
    "# 本番環境の設定 — production settings",
    "# do not inline passwords here; write secret:<name> instead",
    "# 🚀 rollout wave 2",
    "# see https://example.com/docs#env (secret:bar is just text here)",
]


def ref_name(rng):
    return "name_%03d" % rng.randrange(REF_NAMES)


def ref_scalar(rng, flow=False):
    n = ref_name(rng)
    r = rng.random()
    if r < 0.70 and not (flow and r < 0.2):
        # plain; inside flow mappings still mostly plain (valid YAML 1.1/1.2)
        return "secret:" + n, n
    if r < 0.85:
        return "'secret:%s'" % n, n
    return '"secret:%s"' % n, n


class Stats:
    def __init__(self):
        self.documents = 0
        self.entries = 0
        self.refs = 0
        self.names = set()
        self.target_container = None


class Gen:
    def __init__(self, seed, stats):
        self.rng = random.Random(seed)
        self.st = stats
        self.doc_no = 0

    # --- helpers -------------------------------------------------------
    def comment(self):
        return self.rng.choice(COMMENTS)

    def env_var_names(self, k):
        rng = self.rng
        out, seen = [], set()
        while len(out) < k:
            base = rng.choice(ENV_WORDS)
            name = base if base not in seen else "%s_%d" % (base, len(out))
            if name in seen:
                continue
            seen.add(name)
            out.append(name)
        return out

    def literal_value(self, flow=False):
        rng = self.rng
        if rng.random() < 0.35:
            return rng.choice(QUOTED_VALUES)
        v = rng.choice(PLAIN_VALUES)
        if flow and any(c in v for c in ",[]{}"):
            return '"%s"' % v
        return v

    def entry_value(self, name, flow=False):
        """Returns (yaml_text, ref_name_or_None)."""
        if secretish(name):
            text, n = ref_scalar(self.rng, flow)
            self.st.refs += 1
            self.st.names.add(n)
            return text, n
        return self.literal_value(flow), None

    # --- env blocks ----------------------------------------------------
    def env_list(self, indent, k, allow_value_from=True):
        """Sequence-of-mappings env block lines at `indent` spaces."""
        rng = self.rng
        pad = " " * indent
        lines = []
        for name in self.env_var_names(k):
            self.st.entries += 1
            r = rng.random()
            if r < 0.04:
                lines.append(pad + self.comment())
            if allow_value_from and r > 0.93:
                if rng.random() < 0.5:
                    lines += [pad + "- name: " + name,
                              pad + "  valueFrom:",
                              pad + "    secretKeyRef:",
                              pad + "      name: app-secrets",
                              pad + "      key: " + name.lower().replace("_", "-")]
                else:
                    lines += [pad + "- name: " + name,
                              pad + "  valueFrom:",
                              pad + "    fieldRef: {fieldPath: status.podIP}"]
            elif r > 0.80:
                val, _ = self.entry_value(name, flow=True)
                lines.append(pad + "- {name: %s, value: %s}" % (name, val))
            else:
                val, _ = self.entry_value(name)
                tail = ""
                if rng.random() < 0.05:
                    tail = "  # rotated 2024-05 (ñ)"
                lines += [pad + "- name: " + name, pad + "  value: " + val + tail]
        return lines

    def env_map(self, indent, k):
        pad = " " * indent
        lines = []
        for name in self.env_var_names(k):
            self.st.entries += 1
            if self.rng.random() < 0.05:
                lines.append(pad + self.comment())
            val, _ = self.entry_value(name)
            lines.append(pad + "%s: %s" % (name, val))
        return lines

    # --- documents -----------------------------------------------------
    def deployment(self, budget, target=False):
        rng = self.rng
        self.doc_no += 1
        d = self.doc_no
        svc = "svc-%05d" % d
        n_containers = rng.randint(2, 4)
        L = [
            "# Deployment %s — owned by équipe plateforme" % svc,
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            "  name: %s" % svc,
            "  namespace: team-%s  # tenant" % rng.choice("abcdef"),
            "  labels: &labels_%d" % d,
            "    app: %s" % svc,
            "    tier: %s" % rng.choice(["backend", "frontend", "batch"]),
            "  annotations:",
            '    note: "see secret:name_%03d"' % rng.randrange(REF_NAMES),
            "    description: Service déployé — 配置 %d" % d,
            "spec:",
            "  replicas: %d" % rng.randint(1, 6),
            "  selector:",
            "    matchLabels: *labels_%d" % d,
            "  template:",
            "    metadata:",
            "      labels:",
            "        <<: *labels_%d" % d,
            '        version: "v1.%d.%d"' % (rng.randrange(20), rng.randrange(10)),
            "    spec:",
            "      " + self.comment(),
            "      containers:",
        ]
        per = max(1, budget // n_containers)
        for c in range(n_containers):
            is_target = target and c == n_containers - 1
            cname = "bench-target" if is_target else rng.choice(
                ["app", "sidecar", "worker", "proxy", "metrics"]) + "-%d" % c
            L += ["        - name: " + cname,
                  '          image: "registry.example.com/%s/%s:1.%d"' % (svc, cname, c),
                  "          ports:",
                  "            - {containerPort: %d, protocol: TCP}" % (8080 + c)]
            if c == 0:
                L += ["          resources: &res_%d" % d,
                      "            limits: {cpu: 500m, memory: 256Mi}",
                      "            requests:",
                      "              cpu: 100m",
                      "              memory: 128Mi"]
            else:
                L += ["          resources: *res_%d" % d]
            L += ["          env:"]
            if is_target:
                # guarantee refs in the target, no valueFrom
                k = max(per, 6)
                lines = self.env_list(12, k, allow_value_from=False)
                self.st.entries += 1
                n = ref_name(rng)
                self.st.refs += 1
                self.st.names.add(n)
                lines += ["            - name: TARGET_SECRET", "              value: secret:" + n]
                L += lines
                self.st.target_container = cname
            else:
                L += self.env_list(12, per)
            if rng.random() < 0.3:
                L += ["          args: [--port, \"%d\", --verbose]" % (8080 + c)]
        return L

    def paperspace(self, budget):
        rng = self.rng
        self.doc_no += 1
        d = self.doc_no
        L = [
            "# Paperspace deployment spec #%d (modèle)" % d,
            "image: paperspace/app-%d:latest" % d,
            "port: %d" % rng.choice([8000, 8080, 5000]),
            'command: ["python", "serve.py", "--name", "ünïcode-%d"]' % d,
            "metadata:",
            '  note: "see secret:name_%03d"   # decoy, not env' % rng.randrange(REF_NAMES),
            "env:",
        ]
        L += self.env_list(2, budget, allow_value_from=False)
        L += [
            "resources:",
            "  replicas: %d" % rng.randint(1, 4),
            "  instanceType: %s" % rng.choice(["A4000", "C5", "P4000"]),
            "  autoscaling:",
            "    enabled: true",
            "    maxReplicas: 5",
            "    metrics: [{metric: cpu, summary: average, value: 75}]",
            "healthChecks:",
            "  readiness: {path: /ready}",
            "  liveness:",
            "    path: /healthz  # 健康",
        ]
        return L

    def gradient(self, budget):
        rng = self.rng
        self.doc_no += 1
        d = self.doc_no
        k1 = max(1, budget // 3)
        k2 = max(1, budget - k1)
        L = [
            "# Gradient workflow %d — entraînement" % d,
            "defaults:",
            "  resources: &gres_%d" % d,
            "    instance-type: C4",
            "  env:",
        ]
        L += self.env_map(4, k1)
        L += [
            "jobs:",
            "  CloneRepo:",
            "    resources:",
            "      <<: *gres_%d" % d,
            "      instance-type: C5",
            "    outputs:",
            "      repo: {type: volume}",
            "    uses: git-checkout@v1",
            "    with: {url: \"https://github.com/example/repo-%d.git\"}" % d,
            "  train:",
            "    needs: [CloneRepo]",
            "    inputs: {repo: CloneRepo.outputs.repo}",
            "    env:",
        ]
        L += self.env_map(6, k2)
        L += [
            "    uses: script@v1",
            "    with:",
            "      script: |-",
            "        pip install -r requirements.txt",
            "        # uses secret:name_%03d via the env (not a reference)" % rng.randrange(REF_NAMES),
            "        python train.py --epochs %d" % rng.randint(1, 50),
            "      image: python:3.11",
        ]
        return L

    def configmap(self):
        rng = self.rng
        self.doc_no += 1
        d = self.doc_no
        return [
            "# ConfigMap without env — ne pas modifier",
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata: {name: cfg-%d, labels: {app: cfg, part-of: \"bench\"}}" % d,
            "data:",
            "  app.properties: |",
            "    key=value",
            "    # uses secret:name_%03d (just text)" % rng.randrange(REF_NAMES),
            "    greeting=こんにちは",
            "  motd: >",
            "    Bienvenue — folded text",
            "    continues here.",
            '  ref_like: "secret:name_%03d"   # decoy: not an env value' % rng.randrange(REF_NAMES),
            "  plain_ref_like: secret:name_%03d" % rng.randrange(REF_NAMES),
            "  flow: {a: 1, b: [x, y], c: 'z'}",
            "  empty: ''",
        ]

    def stream(self, n_entries):
        rng = self.rng
        docs = []
        target_done = False
        while self.st.entries < n_entries:
            remaining = n_entries - self.st.entries
            r = rng.random()
            if remaining <= 40 and not target_done:
                docs.append(self.deployment(remaining, target=True))
                target_done = True
            elif r < 0.50:
                docs.append(self.deployment(min(remaining, rng.randint(6, 30))))
            elif r < 0.70:
                docs.append(self.paperspace(min(remaining, rng.randint(3, 15))))
            elif r < 0.88:
                docs.append(self.gradient(min(remaining, rng.randint(3, 15))))
            else:
                docs.append(self.configmap())
            if rng.random() < 0.1:
                docs.append(self.configmap())
        if not target_done:
            docs.append(self.deployment(6, target=True))
        docs.append(self.configmap())
        self.st.documents = len(docs)
        out = ["# secretfill benchmark stream (generated by bench/gen.py)"]
        for i, lines in enumerate(docs):
            if i > 0 or rng.random() < 0.5:
                out.append("---")
            out += lines
        return "\n".join(out) + "\n"


def small_spec(stats):
    """A few dozen lines, 3 references (name_000, name_001, name_002)."""
    text = """\
# Small Kubernetes deployment (3 references)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: small-app
  labels: &labels
    app: small-app
  annotations:
    note: "see secret:name_199"   # not a reference
spec:
  replicas: 2
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
    spec:
      containers:
        - name: app
          image: registry.example.com/small-app:1.0.0
          ports:
            - containerPort: 8080
          env:
            # uses secret:foo (comment only)
            - name: DB_HOST
              value: db.internal
            - name: DB_PASSWORD
              value: secret:name_000
            - name: API_TOKEN
              value: 'secret:name_001'
            - {name: LOG_LEVEL, value: info}
            - {name: SENTRY_DSN, value: "secret:name_002"}
            - name: POD_IP
              valueFrom:
                fieldRef: {fieldPath: status.podIP}
          resources:
            limits: {cpu: 250m, memory: 128Mi}
"""
    stats.documents = 1
    stats.entries = 6
    stats.refs = 3
    stats.names = {"name_000", "name_001", "name_002"}
    stats.target_container = "app"
    return text


PEM = ("-----BEGIN PRIVATE KEY-----\n"
       "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
       "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
       "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
       "-----END PRIVATE KEY-----\n")

AWKWARD = [
    lambda i: 'p"a\'ss$word${HOME}#%d' % i,
    lambda i: "true",
    lambda i: "0x1F",
    lambda i: "1e3",
    lambda i: "~",
    lambda i: "null",
    lambda i: "- x",
    lambda i: "a: b",
    lambda i: "  leading and trailing spaces %d  " % i,
    lambda i: "trailing backslash %d\\" % i,
    lambda i: "C:\\path\\to\\file%d \\n not a newline" % i,
    lambda i: PEM,
    lambda i: PEM.rstrip("\n"),
    lambda i: "naïve café é — 日本 — 🔑🚀 %d" % i,
    lambda i: "# looks like a comment %d" % i,
    lambda i: "value with 'single' and \"double\" quotes %d" % i,
    lambda i: "${X} and $Y and $$ %d" % i,
    lambda i: "line one\nline two\n\nline four %d" % i,
    lambda i: "key=%d;other=\"x\"" % i,
    lambda i: "@at %d" % i,
    lambda i: "*alias_like %d" % i,
    lambda i: "&anchor_like %d" % i,
    lambda i: "!tag_like %d" % i,
    lambda i: "%%percent %d" % i,
    lambda i: "{flow: like} [x, y] %d" % i,
    lambda i: "yes",
    lambda i: "off",
    lambda i: "2024-01-01",
    lambda i: "12:30:00",
    lambda i: "007",
    lambda i: "+.inf",
    lambda i: "=",
    lambda i: "plainS3cr3t-%04d-xyz" % i,
    lambda i: "\t tab-led %d" % i,
    lambda i: "---",
    lambda i: "...",
    lambda i: "? question %d" % i,
    lambda i: "| pipe > gt %d" % i,
    lambda i: "ends with colon:",
    lambda i: "ends with space-hash #",
]


def store_values(k_names):
    vals = {}
    for i in range(REF_NAMES):
        vals["name_%03d" % i] = AWKWARD[i % len(AWKWARD)](i)
    j = 0
    while len(vals) < k_names:
        vals["filler_%05d" % j] = "filler-value-%05d-%s" % (j, AWKWARD[j % len(AWKWARD)](j))
        j += 1
    return vals


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--entries", type=int, help="env entries in the spec stream")
    ap.add_argument("--small", action="store_true", help="write the small 3-ref spec")
    ap.add_argument("--out", help="spec output file")
    ap.add_argument("--store-out", help="values JSON output file")
    ap.add_argument("--store-names", type=int, default=REF_NAMES,
                    help="number of names in the values JSON (>= %d)" % REF_NAMES)
    ap.add_argument("--stats-out", help="JSON stats of the written spec")
    a = ap.parse_args()
    if a.out and not (a.small or a.entries):
        ap.error("--out needs --entries N or --small")
    st = Stats()
    if a.out:
        text = small_spec(st) if a.small else Gen(a.seed, st).stream(a.entries)
        data = text.encode("utf-8")
        with open(a.out, "wb") as f:
            f.write(data)
        stats = {"file": a.out, "bytes": len(data), "lines": text.count("\n"),
                 "documents": st.documents, "entries": st.entries, "refs": st.refs,
                 "distinct_names": len(st.names), "target_container": st.target_container,
                 "seed": a.seed}
        if a.stats_out:
            with open(a.stats_out, "w") as f:
                json.dump(stats, f, indent=1)
        print(json.dumps(stats), file=sys.stderr)
    if a.store_out:
        vals = store_values(max(a.store_names, REF_NAMES))
        with open(a.store_out, "w", encoding="utf-8") as f:
            json.dump(vals, f, ensure_ascii=False, indent=1)
    if not a.out and not a.store_out:
        ap.error("nothing to do: give --out and/or --store-out")


if __name__ == "__main__":
    main()
