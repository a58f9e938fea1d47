#!/usr/bin/env python3
"""The web UI's flows in a real headless Chromium (JavaScript turned off),
against a running `secretfill serve`. Run by Tests/CLITests/WebUIBrowserTests.swift:

    webui_flows.py BASE_URL WRITE_TOKEN NAMES_TOKEN ADMIN_TOKEN CANARY SCREENSHOT_DIR

Exits 0 when every check holds; otherwise prints each failed check (names
and pages only, never a token or the canary) and exits 1.
"""
import sys
import urllib.error
import urllib.parse
import urllib.request

from selenium.webdriver.common.by import By

from browser_support import browser, navigate

base, write_token, names_token, admin_token, canary, shots = sys.argv[1:7]
failures = []
sources = []  # every page source seen, checked for the canary at the end


def check(condition, what):
    if not condition:
        failures.append(what)
    return condition


def seen(driver):
    sources.append((driver.current_url, driver.page_source))
    return driver.page_source


def sign_in(driver, token):
    driver.get(base + "/")
    form = driver.find_element(By.CSS_SELECTOR, "form#sign-in")
    form.find_element(By.CSS_SELECTOR, "input[name=token]").send_keys(token)
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)


def add_secret(driver, name, value):
    form = driver.find_element(By.CSS_SELECTOR, "form#add-secret")
    value_field = form.find_element(By.CSS_SELECTOR, "[name=value]")
    check(value_field.get_attribute("type") == "password", "the value field is type=password")
    check(value_field.get_attribute("autocomplete") == "new-password", "the value field has autocomplete=new-password")
    check(value_field.get_attribute("spellcheck") == "false", "the value field has spellcheck=false")
    form.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys(name)
    value_field.send_keys(value)
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    return seen(driver)


def rows(driver):
    return [row.get_attribute("data-secret") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-secret]")]


def session_cookie(driver):
    cookie = driver.get_cookie("sf_session")
    return cookie


def raw(method, path, cookie=None, body=None):
    """A request outside the browser, for headers and forged forms."""
    request = urllib.request.Request(base + path, method=method, data=body)
    if cookie:
        request.add_header("Cookie", "sf_session=" + cookie)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(request, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    text = response.read().decode("utf-8", "replace")
    sources.append((path, text))
    return response.status, response.headers, text


def evaluate(driver, expression):
    """A value from the page through the DevTools protocol (the page's own scripts stay off)."""
    return driver.execute_cdp_cmd("Runtime.evaluate", {"expression": expression}).get("result", {}).get("value")


def header_on_one_line(driver, what):
    """Every item of the header (brand, nav links and menus, open form, sign-out) on the brand's line."""
    brand = driver.find_element(By.CSS_SELECTOR, "header .brand").rect
    middle = brand["y"] + brand["height"] / 2
    items = driver.find_elements(By.CSS_SELECTOR, "header nav > a, header nav > details > summary, form#open-scope, form#sign-out")
    off = [item.text or item.get_attribute("id") for item in items
           if not (item.rect["y"] <= middle <= item.rect["y"] + item.rect["height"])]
    check(len(items) >= 6 and not off, f"{what}: the header is one line at 1100 px (off the line: {off})")


def fits(driver, what, width):
    """Nothing wider than the window: wide tables scroll inside their box, the header wraps."""
    page_width = evaluate(driver, "document.documentElement.scrollWidth")
    view = evaluate(driver, "document.documentElement.clientWidth")
    check(view is not None and view <= width and page_width is not None and page_width <= view,
          f"{what}: the page fits {width} px (page {page_width} px, window {view} px)")
    for item in driver.find_elements(By.CSS_SELECTOR, "header nav > a, header nav > details > summary, form#open-scope button, form#sign-out button, main h1, main th"):
        if item.is_displayed() and item.find_elements(By.XPATH, "./ancestor::div[contains(@class,'scroll')]") == []:
            rect = item.rect
            check(rect["x"] >= 0 and rect["x"] + rect["width"] <= view + 1, f"{what}: {item.text!r} is on screen at {width} px")


def wide(driver, paths, what):
    """At 1100 px every table shows all its columns without scrolling."""
    for path in paths:
        driver.get(base + path)
        seen(driver)
        clipped = evaluate(driver, "Array.from(document.querySelectorAll('.scroll')).filter(e => e.scrollWidth > e.clientWidth + 1).length")
        check(clipped == 0, f"{what} {path}: every column is on screen at 1100 px ({clipped} table(s) scroll)")


def narrow(driver, paths, what):
    driver.set_window_size(420, 800)
    try:
        for path in paths:
            driver.get(base + path)
            seen(driver)
            fits(driver, f"{what} {path}", 420)
    finally:
        driver.set_window_size(1100, 760)


def expect_headers(path, cookie, signed_in=True):
    status, headers, _ = raw("GET", path, cookie)
    csp = headers.get("Content-Security-Policy", "")
    check(("default-src 'none'" in csp or "default-src 'self'" in csp) and "frame-ancestors 'none'" in csp
          and "unsafe-inline" not in csp, f"{path}: Content-Security-Policy")
    check(headers.get("X-Content-Type-Options") == "nosniff", f"{path}: X-Content-Type-Options")
    check(headers.get("Referrer-Policy") == "no-referrer", f"{path}: Referrer-Policy")
    if signed_in:
        check(headers.get("Cache-Control") == "no-store", f"{path}: Cache-Control no-store")
    return status


driver = browser()
try:
    # A bad key: the form again, no hint.
    sign_in(driver, "sf_" + "x" * 43)
    check("That key was not accepted" in driver.page_source, "a bad key gets 'That key was not accepted'")
    check(driver.find_elements(By.CSS_SELECTOR, "form#sign-in"), "a bad key gets the sign-in form again")

    # A write key: add in team, project and cluster scope.
    sign_in(driver, write_token)
    check(driver.current_url.endswith("/ui/team"), "signing in lands on /ui/team")
    cookie = session_cookie(driver)
    check(cookie is not None and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict" and cookie.get("path") == "/",
          "the session cookie is HttpOnly, SameSite=Strict, Path=/")
    check(write_token not in driver.current_url, "the token is not in the URL")
    check(driver.execute_cdp_cmd("Runtime.evaluate", {"expression": "document.cookie"}).get("result", {}).get("value", "") == "",
          "the session cookie is not readable by script")
    page = add_secret(driver, "db_password", canary)
    check("Set team secret 'db_password'" in driver.find_element(By.TAG_NAME, "main").text, "the result says Set team secret 'db_password'")
    check("db_password" in rows(driver), "team lists db_password")
    add_secret(driver, "shared_name", canary + "-team")
    times = driver.find_elements(By.CSS_SELECTOR, "tr[data-secret=shared_name] time")
    check(times and times[0].text.endswith(" UTC") and times[0].get_attribute("datetime").endswith("Z"), "the update time is shown in UTC")
    check(driver.find_elements(By.CSS_SELECTOR, "tr[data-secret=shared_name] .ago"), "the update time has a relative hint")

    # Setting a name that exists: a confirmation first, with an empty value field; then "Updated", as the CLI says.
    add_secret(driver, "shared_name", canary + "-team-again")
    confirm = driver.find_elements(By.CSS_SELECTOR, "form#confirm-replace")
    check(confirm, "adding a name that exists asks for confirmation")
    check("Replace the value of team secret 'shared_name'?" in driver.find_element(By.TAG_NAME, "main").text, "the confirmation names the secret")
    if confirm:
        value_field = confirm[0].find_element(By.CSS_SELECTOR, "[name=value]")
        check(value_field.get_attribute("value") == "" and value_field.get_attribute("type") == "password", "the confirmation asks for the value again")
        value_field.send_keys(canary + "-team-2")
        navigate(driver, confirm[0].find_element(By.CSS_SELECTOR, "button[type=submit]"))
        seen(driver)
    check("Updated team secret 'shared_name'" in driver.find_element(By.TAG_NAME, "main").text, "the result says Updated team secret 'shared_name'")

    # Its history, and a roll back through the confirmation page.
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-secret=shared_name] a.history"))
    seen(driver)
    versions = [row.get_attribute("data-version") for row in driver.find_elements(By.CSS_SELECTOR, "table#history tr[data-version]")]
    check(versions == ["2", "1"], f"the history lists versions 2 and 1, newest first (got {versions})")
    check(all(t.text.endswith(" UTC") for t in driver.find_elements(By.CSS_SELECTOR, "table#history time")), "the history's times are in UTC")
    check("dev" in driver.find_element(By.CSS_SELECTOR, "table#history tr[data-version='1']").text, "the history names the key that wrote each version")
    driver.save_screenshot(shots + "/webui-history.png")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-version='1']").find_element(By.XPATH, ".//button[normalize-space()='Roll back']"))
    seen(driver)
    check("Roll back team secret 'shared_name' to version 1?" in driver.find_element(By.TAG_NAME, "main").text, "roll back asks for confirmation")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#confirm-rollback button[type=submit]"))
    seen(driver)
    check("Rolled back team secret 'shared_name' to version 1 (now version 3)" in driver.find_element(By.TAG_NAME, "main").text,
          "the result says Rolled back team secret 'shared_name' to version 1 (now version 3)")
    check(driver.find_elements(By.CSS_SELECTOR, "table#history tr[data-version='3'] .current"), "version 3 is current")

    driver.get(base + "/ui/team")
    form = driver.find_element(By.CSS_SELECTOR, "form#open-scope")
    form.find_element(By.CSS_SELECTOR, "input[name=id]").send_keys("pr-1")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    check(driver.current_url.endswith("/ui/project/pr-1"), "the open form goes to /ui/project/pr-1")
    add_secret(driver, "api_token", canary + "-project")
    check("Set project pr-1 secret 'api_token'" in driver.find_element(By.TAG_NAME, "main").text, "the result says Set project pr-1 secret 'api_token'")
    add_secret(driver, "shared_name", canary + "-project2")
    shadow = driver.find_elements(By.CSS_SELECTOR, "tr[data-secret=shared_name] .shadow")
    check(shadow and "team" in shadow[0].text, "project pr-1's shared_name notes that it shadows the team one")
    check(sorted(rows(driver)) == rows(driver) == ["api_token", "shared_name"], "project pr-1 lists its names, sorted")

    driver.get(base + "/ui/cluster/c-1")
    seen(driver)
    add_secret(driver, "kube_token", canary + "-cluster")
    check("Set cluster c-1 secret 'kube_token'" in driver.find_element(By.TAG_NAME, "main").text, "the result says Set cluster c-1 secret 'kube_token'")
    check("kube_token" in rows(driver), "cluster c-1 lists kube_token")
    check(driver.find_elements(By.CSS_SELECTOR, "nav a[href='/ui/project/pr-1']"), "the navigation links to project pr-1")

    # The Secrets index: every scope with secrets and its count, filterable.
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "nav a[href='/ui/secrets']"))
    seen(driver)
    counts = {row.get_attribute("data-scope"): row.find_element(By.CSS_SELECTOR, "td.count").text
              for row in driver.find_elements(By.CSS_SELECTOR, "table#scopes tr[data-scope]")}
    check(counts == {"team": "2", "project pr-1": "2", "cluster c-1": "1"}, f"the Secrets index lists team, pr-1 and c-1 with counts (got {counts})")
    driver.save_screenshot(shots + "/webui-secrets.png")
    form = driver.find_element(By.CSS_SELECTOR, "form#scope-filter")
    form.find_element(By.CSS_SELECTOR, "input[name=q]").send_keys("c-")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)
    listed = [row.get_attribute("data-scope") for row in driver.find_elements(By.CSS_SELECTOR, "table#scopes tr[data-scope]")]
    check(listed == ["cluster c-1"], f"the index's filter keeps cluster c-1 only (got {listed})")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "table#scopes a[href='/ui/cluster/c-1']"))
    check(driver.current_url.endswith("/ui/cluster/c-1"), "the index links to the scope's page")
    narrow(driver, ["/ui/team", "/ui/secrets", "/ui/team/history?name=shared_name"], "a write key")

    # Bad input: the CLI's message, the name kept, the value not.
    driver.get(base + "/ui/team")
    add_secret(driver, "9lives", canary + "-bad")
    check("is not a valid secret name" in driver.page_source, "a bad name gets the CLI's message")
    kept = driver.find_element(By.CSS_SELECTOR, "form#add-secret input[name=name]").get_attribute("value")
    check(kept == "9lives", "the form keeps the refused name")
    check(driver.find_element(By.CSS_SELECTOR, "form#add-secret [name=value]").get_attribute("value") == "", "the form does not keep the value")

    # Delete through the confirmation page.
    driver.get(base + "/ui/team")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "tr[data-secret=db_password]").find_element(By.XPATH, ".//button[normalize-space()='Delete']"))
    seen(driver)
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#confirm-delete button[type=submit]"))
    seen(driver)
    check("Deleted team secret 'db_password'" in driver.find_element(By.TAG_NAME, "main").text, "the result says Deleted team secret 'db_password'")
    check("db_password" not in rows(driver), "db_password is gone from the list")
    driver.save_screenshot(shots + "/webui-team.png")

    # A forged POST without the CSRF token changes nothing.
    session = session_cookie(driver)["value"]
    status, _, _ = raw("POST", "/ui/team/add", session, b"name=forged&value=forged-value")
    check(status == 403, f"a POST without the CSRF token gets 403 (got {status})")
    status, _, _ = raw("POST", "/ui/team/delete", session, b"name=shared_name&csrf=" + b"A" * 43)
    check(status == 403, f"a POST with a wrong CSRF token gets 403 (got {status})")
    driver.get(base + "/ui/team")
    seen(driver)
    check("forged" not in rows(driver) and "shared_name" in rows(driver), "the forged POSTs changed nothing")

    # The headers on every page.
    for path in ("/ui/team", "/ui/project/pr-1", "/ui/cluster/c-1", "/ui/team/delete?name=shared_name"):
        check(expect_headers(path, session) == 200, f"{path} answers 200")
    check(expect_headers("/ui/style.css", None, signed_in=False) == 200, "the stylesheet answers 200")
    expect_headers("/", None, signed_in=False)

    # Sign out; the old cookie no longer works.
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#sign-out button[type=submit]"))
    seen(driver)
    check(driver.find_elements(By.CSS_SELECTOR, "form#sign-in"), "signing out shows the sign-in form")
    status, headers, _ = raw("GET", "/ui/team", session)
    check(status == 303 and headers.get("Location") == "/", f"the old cookie is refused after sign-out (got {status})")
    driver.add_cookie({"name": "sf_session", "value": session, "path": "/"})
    driver.get(base + "/ui/team")
    seen(driver)
    check(driver.find_elements(By.CSS_SELECTOR, "form#sign-in"), "the browser with the old cookie is sent to sign in")
    driver.delete_all_cookies()

    # A names key: lists, no forms; a forged form is refused with 403.
    sign_in(driver, names_token)
    check("shared_name" in rows(driver), "a names key sees the team's names")
    check(not driver.find_elements(By.CSS_SELECTOR, "form#add-secret"), "a names key sees no add form")
    check(not driver.find_elements(By.XPATH, "//button[normalize-space()='Delete']"), "a names key sees no Delete button")
    names_session = session_cookie(driver)["value"]
    csrf = driver.find_element(By.CSS_SELECTOR, "form#sign-out input[name=csrf]").get_attribute("value")
    status, _, _ = raw("POST", "/ui/team/add", names_session, f"csrf={csrf}&name=sneaky&value=v".encode())
    check(status == 403, f"a names key's forged add form gets 403 (got {status})")
    status, _, _ = raw("GET", "/ui/keys", names_session)
    check(status == 403, f"a names key gets 403 on /ui/keys (got {status})")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#sign-out button[type=submit]"))
    driver.delete_all_cookies()

    # An admin key: the keys page, a new key shown once, revoke through confirmation, the audit page.
    sign_in(driver, admin_token)
    driver.get(base + "/ui/keys")
    seen(driver)
    form = driver.find_element(By.CSS_SELECTOR, "form#create-key")
    form.find_element(By.CSS_SELECTOR, "[name=name]").send_keys("ci-deploy")
    form.find_element(By.CSS_SELECTOR, "[name=grants]").send_keys("project:pr-1:read\nteam:names")
    form.find_element(By.CSS_SELECTOR, "[name=expires]").send_keys("90d")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    created = seen(driver)
    token = driver.find_element(By.CSS_SELECTOR, "code#new-token").text
    check(token.startswith("sf_") and len(token) == 46, "the new token is shown in code#new-token")
    check("not shown again" in created, "the new token's page says it is not shown again")
    driver.get(base + "/ui/keys")
    keys_page = seen(driver)
    check(token not in keys_page, "the keys page does not show the token again")
    row = driver.find_elements(By.CSS_SELECTOR, "tr[data-key=ci-deploy]")
    check(row and "project:pr-1:read" in row[0].text and "team:names" in row[0].text, "ci-deploy is listed with its grants")
    check(driver.find_elements(By.CSS_SELECTOR, "tr[data-key=dev]"), "the write key is listed")
    driver.save_screenshot(shots + "/webui-keys.png")
    navigate(driver, row[0].find_element(By.XPATH, ".//button[normalize-space()='Revoke']"))
    seen(driver)
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#confirm-revoke button[type=submit]"))
    seen(driver)
    check("Revoked key 'ci-deploy'" in driver.page_source, "the result says Revoked key 'ci-deploy'")
    check("revoked" in driver.find_element(By.CSS_SELECTOR, "tr[data-key=ci-deploy]").text, "ci-deploy shows as revoked")
    driver.get(base + "/ui/keys")
    seen(driver)
    check(not driver.find_elements(By.CSS_SELECTOR, "tr[data-key=ci-deploy]"), "a revoked key is hidden from the keys page")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "a#show-revoked"))
    seen(driver)
    check(driver.find_elements(By.CSS_SELECTOR, "tr[data-key=ci-deploy]"), "show revoked lists the revoked key")
    created_times = driver.find_elements(By.CSS_SELECTOR, "tr[data-key=ci-deploy] time")
    check(created_times and created_times[0].text.endswith(" UTC"), "the keys page shows times in UTC")
    # The Roles section: a mistake shows the CLI's words and keeps the form; then the role is
    # created, listed with its settings, and deleted after confirming.
    driver.get(base + "/ui/keys")
    seen(driver)
    check(driver.find_elements(By.CSS_SELECTOR, "p#no-roles"), "the keys page says there are no roles yet")
    form = driver.find_element(By.CSS_SELECTOR, "form#create-role")
    form.find_element(By.CSS_SELECTOR, "[name=name]").send_keys("gh-main")
    form.find_element(By.CSS_SELECTOR, "[name=issuer]").send_keys("https://token.actions.githubusercontent.com")
    form.find_element(By.CSS_SELECTOR, "[name=audiences]").send_keys("https://github.com/acme")
    form.find_element(By.CSS_SELECTOR, "[name=claims]").send_keys("repository=acme/api\nref=refs/heads/main")
    form.find_element(By.CSS_SELECTOR, "[name=grants]").send_keys("project:pr-1:read\nteam:read")
    ttl = form.find_element(By.CSS_SELECTOR, "[name=ttl]")
    ttl.clear()
    ttl.send_keys("2h")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)
    errors = driver.find_elements(By.CSS_SELECTOR, "#role-error")
    check(errors and "--ttl (2h) may not exceed --max-ttl (1h)" in errors[0].text, "a role lasting past its maximum gets the CLI's words")
    form = driver.find_element(By.CSS_SELECTOR, "form#create-role")
    check(form.find_element(By.CSS_SELECTOR, "[name=name]").get_attribute("value") == "gh-main"
          and "ref=refs/heads/main" in form.find_element(By.CSS_SELECTOR, "[name=claims]").get_attribute("value"),
          "the role form keeps what was typed")
    ttl = form.find_element(By.CSS_SELECTOR, "[name=ttl]")
    ttl.clear()
    ttl.send_keys("15m")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)
    check("Created role 'gh-main'" in driver.page_source, "the result says Created role 'gh-main'")
    role_row = driver.find_elements(By.CSS_SELECTOR, "tr[data-role=gh-main]")
    check(role_row and "ref=refs/heads/main" in role_row[0].text and "15m (at most 1h)" in role_row[0].text
          and "discovery" in role_row[0].text and "team:read" in role_row[0].text, "gh-main is listed with its settings")
    driver.save_screenshot(shots + "/webui-roles.png")
    if role_row:
        navigate(driver, role_row[0].find_element(By.XPATH, ".//button[normalize-space()='Delete']"))
        seen(driver)
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#confirm-role-delete button[type=submit]"))
        seen(driver)
        check("Deleted role 'gh-main'" in driver.page_source, "the result says Deleted role 'gh-main'")
        check(not driver.find_elements(By.CSS_SELECTOR, "tr[data-role=gh-main]"), "a deleted role is no longer listed")
    # The Members page: add a person, change their grants, remove them after confirming.
    driver.get(base + "/ui/members")
    seen(driver)
    check(driver.find_elements(By.CSS_SELECTOR, "p#no-members"), "the members page says there are no members yet")
    form = driver.find_element(By.CSS_SELECTOR, "form#add-member")
    form.find_element(By.CSS_SELECTOR, "[name=name]").send_keys("not-an-email")
    form.find_element(By.CSS_SELECTOR, "[name=grants]").send_keys("team:read")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)
    errors = driver.find_elements(By.CSS_SELECTOR, "#member-error")
    check(errors and "a member is an email" in errors[0].text, "a name that is no email nor group gets the CLI's words")
    form = driver.find_element(By.CSS_SELECTOR, "form#add-member")
    name_field = form.find_element(By.CSS_SELECTOR, "[name=name]")
    check(name_field.get_attribute("value") == "not-an-email", "the member form keeps what was typed")
    name_field.clear()
    name_field.send_keys("Ana@Acme.dev")
    navigate(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(driver)
    check("Added member 'ana@acme.dev'" in driver.page_source, "the result says Added member 'ana@acme.dev'")
    member_row = driver.find_elements(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']")
    check(member_row and "team:read" in member_row[0].text, "ana@acme.dev is listed with her grants")
    driver.save_screenshot(shots + "/webui-members.png")
    if member_row:
        member_row[0].find_element(By.CSS_SELECTOR, "details summary").click()
        grants = member_row[0].find_element(By.CSS_SELECTOR, "form.change-grants textarea[name=grants]")
        grants.clear()
        grants.send_keys("team:write\nproject:pr-1:read")
        navigate(driver, member_row[0].find_element(By.CSS_SELECTOR, "form.change-grants button[type=submit]"))
        seen(driver)
        check("Updated member 'ana@acme.dev'" in driver.page_source, "the result says Updated member 'ana@acme.dev'")
        member_row = driver.find_elements(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']")
        check(member_row and "team:write" in member_row[0].text and "project:pr-1:read" in member_row[0].text
              and "team:read" not in member_row[0].text, "her grants are replaced")
    wide(driver, ["/ui/members"], "an admin key")
    narrow(driver, ["/ui/members"], "an admin key")
    member_row = driver.find_elements(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']")
    if member_row:
        navigate(driver, member_row[0].find_element(By.XPATH, ".//button[normalize-space()='Remove']"))
        seen(driver)
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#confirm-member-remove button[type=submit]"))
        seen(driver)
        check("Removed member 'ana@acme.dev'" in driver.page_source, "the result says Removed member 'ana@acme.dev'")
        check(not driver.find_elements(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']"), "a removed member is no longer listed")
    driver.get(base + "/ui/team")
    header_on_one_line(driver, "an admin key")
    driver.get(base + "/ui/audit?since=24h")
    seen(driver)
    check(driver.find_element(By.CSS_SELECTOR, "form#audit-filter input[name=since]").get_attribute("value") == "24h", "the audit page keeps the time filter")
    clients = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table#audit td.client")]
    check(clients and all(clients), "the audit page shows each entry's client address")
    check(driver.find_elements(By.XPATH, "//table[@id='audit']//th[normalize-space()='Client']"), "the audit page has a Client column")
    driver.save_screenshot(shots + "/webui-audit.png")
    # Paged: newest first, 100 entries a page, then "Older entries".
    driver.get(base + "/ui/audit")
    seen(driver)
    first_page = [t.get_attribute("datetime") for t in driver.find_elements(By.CSS_SELECTOR, "table#audit tbody tr td:first-child time")]
    check(0 < len(first_page) <= 100, f"an audit page holds at most 100 entries (got {len(first_page)})")
    check(first_page == sorted(first_page, reverse=True), "the audit page is newest first")
    older = driver.find_elements(By.CSS_SELECTOR, "a#older")
    if len(first_page) == 100 and check(older, "a full audit page links to older entries"):
        navigate(driver, older[0])
        seen(driver)
        second_page = [t.get_attribute("datetime") for t in driver.find_elements(By.CSS_SELECTOR, "table#audit tbody tr td:first-child time")]
        check(second_page and second_page[0] <= first_page[-1] and second_page == sorted(second_page, reverse=True),
              "the older entries follow on, newest first")
        print(f"audit pages: {len(first_page)} then {len(second_page)} rows")
    else:
        print(f"audit pages: {len(first_page)} rows")
    driver.get(base + "/ui/audit?since=yesterday")
    seen(driver)
    check("is not a time to filter by" in driver.page_source, "a bad time filter is said in words")
    wide(driver, ["/ui/keys?all=1", "/ui/audit", "/ui/team", "/ui/secrets"], "an admin key")
    narrow(driver, ["/ui/keys?all=1", "/ui/audit"], "an admin key")
    driver.set_window_size(420, 800)
    driver.get(base + "/ui/audit")
    driver.save_screenshot(shots + "/webui-narrow.png")
    driver.set_window_size(1100, 760)
    driver.get(base + "/ui/audit?key=dev")
    seen(driver)
    audit_rows = driver.find_elements(By.CSS_SELECTOR, "table#audit tbody tr")
    check(len(audit_rows) >= 5, f"the audit page lists dev's actions (got {len(audit_rows)} rows)")
    check(any("delete" in r.text for r in audit_rows), "the audit page lists dev's delete")
    driver.get(base + "/ui/audit?secret=api_token")
    seen(driver)
    check(all("api_token" in r.text for r in driver.find_elements(By.CSS_SELECTOR, "table#audit tbody tr")), "the audit filter by secret name holds")
    admin_session = session_cookie(driver)["value"]
    for path in ("/ui/keys", "/ui/audit", "/ui/keys/revoke?name=dev", "/ui/members", "/ui/members/remove?name=ana@acme.dev"):
        check(expect_headers(path, admin_session) == 200, f"{path} answers 200")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#sign-out button[type=submit]"))
    driver.delete_all_cookies()
    sign_in(driver, token)
    check("That key was not accepted" in driver.page_source, "a revoked key is not accepted")
finally:
    driver.quit()

for where, text in sources:
    if canary in text:
        failures.append(f"the canary value is in the page {where}")
    for secret_token in (write_token, names_token, admin_token):
        if secret_token in text:
            failures.append(f"a sign-in token is in the page {where}")

for failure in failures:
    print("FAILED: " + failure)
print(f"{len(sources)} pages checked, {len(failures)} failures")
sys.exit(1 if failures else 0)
