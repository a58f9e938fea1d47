#!/usr/bin/env python3
"""A strict OpenID Connect provider on loopback, for the single sign-on tests
(Tests/CLITests/SingleSignOnTests.swift). Python's standard library only.

    strict_oidc.py PORT FOLDER

It checks what oidc-provider-mock lets pass: the client secret
(client_secret_basic, or client_secret_post when config.json lists only
that), the PKCE S256 verifier, the redirect URI, and a code used once. The
test decides what each code yields: FOLDER/codes/CODE.json holds
{"id_token", "challenge", "redirect_uri"} (or {"error": "invalid_grant"}),
written after it read the state, nonce and challenge from the server's
redirect. FOLDER/config.json: {"client_id", "client_secret",
"auth_methods": [...], "issuer": optional override}. FOLDER/jwks is the key
set. Each token request's outcome is appended to FOLDER/token.log (never a
secret or a token: the check that failed, or "ok").
"""
import base64
import hashlib
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
folder = sys.argv[2]
base = "http://127.0.0.1:%d" % port


def config():
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def note(outcome):
    with open(os.path.join(folder, "token.log"), "a") as f:
        f.write(outcome + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/.well-known/openid-configuration":
            cfg = config()
            self.answer(200, json.dumps({
                "issuer": cfg.get("issuer", base),
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "jwks_uri": base + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": cfg.get("auth_methods", ["client_secret_basic"]),
            }))
        elif path == "/jwks":
            with open(os.path.join(folder, "jwks"), "rb") as f:
                self.answer(200, f.read())
        else:
            self.answer(404, '{"error": "not_found"}')

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/token":
            return self.answer(404, '{"error": "not_found"}')
        cfg = config()
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        methods = cfg.get("auth_methods", ["client_secret_basic"])
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic ") and "client_secret_basic" in methods:
            try:
                pair = base64.b64decode(authorization[6:]).decode()
                client_id, _, secret = pair.partition(":")
                client_id, secret = urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
            except Exception:
                client_id, secret = "", ""
            method = "basic"
        elif "client_secret" in form and "client_secret_post" in methods:
            client_id, secret, method = form.get("client_id", ""), form["client_secret"], "post"
        else:
            note("invalid_client: no client authentication this provider takes")
            return self.answer(401, '{"error": "invalid_client"}')
        if client_id != cfg["client_id"] or secret != cfg["client_secret"]:
            note("invalid_client: wrong client id or secret (%s)" % method)
            return self.answer(401, '{"error": "invalid_client"}')
        if form.get("grant_type") != "authorization_code":
            note("unsupported_grant_type")
            return self.answer(400, '{"error": "unsupported_grant_type"}')
        code = form.get("code", "")
        path = os.path.join(folder, "codes", code + ".json")
        if not code or "/" in code or not os.path.exists(path):
            note("invalid_grant: unknown or used code")
            return self.answer(400, '{"error": "invalid_grant"}')
        with open(path) as f:
            grant = json.load(f)
        os.remove(path)  # a code is used once
        if "error" in grant:
            note(grant["error"])
            return self.answer(400, json.dumps({"error": grant["error"]}))
        if form.get("redirect_uri") != grant["redirect_uri"]:
            note("invalid_grant: redirect_uri differs")
            return self.answer(400, '{"error": "invalid_grant"}')
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not (43 <= len(verifier) <= 128) or digest != grant["challenge"]:
            note("invalid_grant: PKCE verifier does not match the challenge")
            return self.answer(400, '{"error": "invalid_grant"}')
        note("ok (%s)" % method)
        self.answer(200, json.dumps({"access_token": "at-" + code, "token_type": "Bearer", "expires_in": 300,
                                     "id_token": grant["id_token"]}))


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
