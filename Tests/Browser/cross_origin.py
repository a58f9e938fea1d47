#!/usr/bin/env python3
"""Login CSRF and cookie tossing from a page on another loopback port, in a
real headless Chromium (JavaScript off; the attacker's buttons are clicked),
against a running `secretfill serve` over plain HTTP. Run by
Tests/CLITests/CrossOriginBrowserTests.swift:

    cross_origin.py BASE_URL VICTIM_TOKEN ATTACKER_TOKEN

The attacker's server (python http.server in a thread, 127.0.0.1, another
port) serves forms that POST to the secretfill server: a sign-in with the
attacker's own key and a nonce the server issued to the attacker (fetched
here with urllib), with the nonce's cookie tossed into the browser from the
attacker's port (cookies ignore ports) or not, with the browser's default
referrer policy (Origin: http://127.0.0.1:ATTACKER) or no-referrer
(Origin: null); and add/delete/sign-out forms with a guessed CSRF token and
with the victim's real one. Each must be refused with 403 and the page that
says the form came from another site or port; no session cookie appears,
the victim's session and secrets stay as they were, and the victim's own
forms keep working.

Exits 0 when every check holds; otherwise prints each failed check (never a
token) and exits 1.
"""
import html
import http.server
import json
import re
import secrets
import sys
import threading
import urllib.parse
import urllib.request

from selenium.webdriver.common.by import By

from browser_support import browser as chromium, navigate as navigate_within

base, victim_token, attacker_token = sys.argv[1:4]
failures = []
passed = []
REFUSAL = "this form was sent from another site or port"


def check(condition, what):
    (passed if condition else failures).append(what)
    return condition


# ---------------------------------------------------------------- the attacker

class AttackerPage(http.server.BaseHTTPRequestHandler):
    """GET /PATH?action=...&field=value...[&toss=NONCE][&policy=no-referrer]:
    a page with one form, POSTing `field`s to base + action, its submit
    button #go. `toss` sets `sf_signin=NONCE; Path=/` for this host, which
    the browser also sends to the secretfill port."""

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        action = query.pop("action", ["/"])[0]
        toss = query.pop("toss", [None])[0]
        policy = query.pop("policy", [None])[0]
        inputs = "".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(values[0])}">' for name, values in query.items())
        page = (f'<!DOCTYPE html><html><head><title>Win a prize</title></head><body>'
                f'<form id="attack" method="post" action="{html.escape(base + action)}">{inputs}'
                f'<button id="go" type="submit">Claim your prize</button></form></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        if toss:
            self.send_header("Set-Cookie", f"sf_signin={toss}; Path=/")
        if policy:
            self.send_header("Referrer-Policy", policy)
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
threading.Thread(target=attacker.serve_forever, daemon=True).start()
attacker_origin = f"http://127.0.0.1:{attacker.server_address[1]}"


def attack_url(action, fields, toss=None, policy=None):
    query = {"action": action, **fields}
    if toss:
        query["toss"] = toss
    if policy:
        query["policy"] = policy
    return attacker_origin + "/prize?" + urllib.parse.urlencode(query)


def server_nonce():
    """What the attacker gets from the secretfill server for itself: the
    sign-in page's nonce and its sf_signin cookie (the same value)."""
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        cookie = re.search(r"sf_signin=([^;]+)", response.headers.get("Set-Cookie", ""))
        form = re.search(r'name="csrf" value="([^"]+)"', response.read().decode())
    check(cookie is not None and form is not None and cookie.group(1) == form.group(1),
          "the sign-in page gives the attacker a nonce equal to its sf_signin cookie")
    return form.group(1) if form else "missing"


# ---------------------------------------------------------------- the browser

def browser():
    # Network events: each POST's status and the Origin, Sec-Fetch-Site and Cookie it carried.
    return chromium(performance_log=True)


def navigate(driver, element):
    navigate_within(driver, element, seconds=15)


def posts(driver):
    """The POSTs to the secretfill server since the last call: url, status and request headers."""
    requests = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        rid = params.get("requestId")
        if message["method"] == "Network.requestWillBeSent" and params["request"]["method"] == "POST" \
                and params["request"]["url"].startswith(base):
            requests.setdefault(rid, {"headers": {}})["url"] = params["request"]["url"]
        elif message["method"] == "Network.requestWillBeSentExtraInfo":
            requests.setdefault(rid, {"headers": {}})["headers"].update({k.lower(): v for k, v in params.get("headers", {}).items()})
        elif message["method"] == "Network.responseReceived":
            requests.setdefault(rid, {"headers": {}})["status"] = params["response"]["status"]
    return [r for r in requests.values() if "url" in r]


def cookie(driver, name):
    value = driver.get_cookie(name)
    return value["value"] if value else None


def who(driver):
    found = driver.find_elements(By.CSS_SELECTOR, "header .who")
    return found[0].text if found else None


def team_names(driver):
    driver.get(base + "/ui/team")
    return [row.get_attribute("data-secret") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-secret]")]


def attack(driver, name, url, tossed=None, policy=None):
    """Opens the attacker's page, clicks its button and checks the POST was refused for its origin."""
    driver.get(url)
    posts(driver)  # drops what came before
    if tossed:
        check(cookie(driver, "sf_signin") == tossed, f"{name}: the attacker's port planted sf_signin for this host (cookies ignore ports)")
    navigate(driver, driver.find_element(By.ID, "go"))
    sent = posts(driver)
    check(len(sent) == 1, f"{name}: the browser sent one POST to the server (sent {len(sent)})")
    text = driver.find_element(By.TAG_NAME, "body").text
    if sent:
        request = sent[0]
        headers = request["headers"]
        check(request.get("status") == 403, f"{name}: answered 403 (got {request.get('status')})")
        expected_origin = "null" if policy == "no-referrer" else attacker_origin
        check(headers.get("origin") == expected_origin, f"{name}: the browser sent Origin {expected_origin} (sent {headers.get('origin')})")
        check(headers.get("sec-fetch-site") == "same-site", f"{name}: the browser sent Sec-Fetch-Site same-site (sent {headers.get('sec-fetch-site')})")
        if tossed:
            # Without the origin check the nonce check would pass: the tossed cookie matches the form.
            check(f"sf_signin={tossed}" in headers.get("cookie", ""), f"{name}: the tossed sf_signin reached the server with the form")
    check(REFUSAL in text, f"{name}: the page says the form came from another site or port")
    return text


driver = browser()
try:
    # A browser with nothing of the server yet: the attacker's sign-in forms.
    nonce = server_nonce()
    attack(driver, "login CSRF, server-issued nonce, no cookie",
           attack_url("/sign-in", {"token": attacker_token, "csrf": nonce}))
    check(cookie(driver, "sf_session") is None, "no session cookie after the login CSRF without a cookie")
    for policy in (None, "no-referrer"):
        nonce = server_nonce()
        label = f"login CSRF, server-issued nonce tossed as sf_signin, referrer policy {policy or 'default'}"
        attack(driver, label, attack_url("/sign-in", {"token": attacker_token, "csrf": nonce}, toss=nonce, policy=policy),
               tossed=nonce, policy=policy)
        check(cookie(driver, "sf_session") is None, f"{label}: no session cookie")
    invented = secrets.token_urlsafe(32)
    attack(driver, "login CSRF, attacker's own nonce tossed",
           attack_url("/sign-in", {"token": attacker_token, "csrf": invented}, toss=invented), tossed=invented)
    check(cookie(driver, "sf_session") is None, "no session cookie after the login CSRF with the attacker's own nonce")
    driver.get(base + "/ui/team")
    check(driver.find_elements(By.CSS_SELECTOR, "form#sign-in"), "after the attacks the browser is not signed in")

    # The victim signs in on the server's own page: that form is same-origin and must work.
    driver.get(base + "/")
    form = driver.find_element(By.CSS_SELECTOR, "form#sign-in")
    form.find_element(By.CSS_SELECTOR, "input[name=token]").send_keys(victim_token)
    posts(driver)
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    own = posts(driver)
    signed_in = check(driver.current_url.endswith("/ui/team") and who(driver) == "key victim",
                      f"the victim's own sign-in form works and shows 'key victim' (status {[p.get('status') for p in own]}, "
                      f"Origin {[p['headers'].get('origin') for p in own]}, Sec-Fetch-Site {[p['headers'].get('sec-fetch-site') for p in own]}, "
                      f"page: {driver.find_element(By.TAG_NAME, 'main').text[:160]!r})")
    if signed_in:
        session = cookie(driver, "sf_session")
        csrf = driver.find_element(By.CSS_SELECTOR, "form#sign-out input[name=csrf]").get_attribute("value")
        check("victim_secret" in team_names(driver), "the victim sees victim_secret")

        # Login CSRF against a signed-in victim: its session must stay its own.
        nonce = server_nonce()
        attack(driver, "login CSRF against a signed-in victim",
               attack_url("/sign-in", {"token": attacker_token, "csrf": nonce}, toss=nonce), tossed=nonce)
        check(cookie(driver, "sf_session") == session, "the victim's session cookie is unchanged after the login CSRF")

        # Forms behind the sign-in, with a guessed token and with the victim's real one (as if it leaked).
        for label, token in (("guessed", "A" * 43), ("the victim's real", csrf)):
            for policy in (None, "no-referrer"):
                attack(driver, f"add with {label} CSRF token, referrer policy {policy or 'default'}",
                       attack_url("/ui/team/add", {"csrf": token, "name": "tossed_by_attacker", "value": "attacker-value"}, policy=policy),
                       policy=policy)
        attack(driver, "delete with the victim's real CSRF token",
               attack_url("/ui/team/delete", {"csrf": csrf, "name": "victim_secret"}))
        attack(driver, "sign-out with the victim's real CSRF token",
               attack_url("/sign-out", {"csrf": csrf}))

        names = team_names(driver)
        check(who(driver) == "key victim", f"the header still says 'key victim' (says {who(driver)!r})")
        check(cookie(driver, "sf_session") == session, "the victim's session cookie is unchanged after every attack")
        check("victim_secret" in names, "victim_secret was not deleted")
        check("tossed_by_attacker" not in names, "no secret was added by the attacker's forms")

        # The victim's own forms still work.
        form = driver.find_element(By.CSS_SELECTOR, "form#add-secret")
        form.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("own_secret")
        form.find_element(By.CSS_SELECTOR, "[name=value]").send_keys("own-value")
        navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        check("Set team secret 'own_secret'" in driver.find_element(By.TAG_NAME, "main").text,
              "the victim's own add form still works after the attacks")
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#sign-out button[type=submit]"))
        check(driver.find_elements(By.CSS_SELECTOR, "form#sign-in"), "the victim's own sign-out form works")
finally:
    driver.quit()
    attacker.shutdown()

for failure in failures:
    print("FAILED: " + failure.replace(victim_token, "<victim token>").replace(attacker_token, "<attacker token>"))
print(f"{len(passed)} checks held, {len(failures)} failed")
sys.exit(1 if failures else 0)
