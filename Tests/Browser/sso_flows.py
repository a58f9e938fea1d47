#!/usr/bin/env python3
"""Single sign-on in a real headless Chromium (JavaScript off), through
oidc-provider-mock, against two `secretfill serve` on one database. Run by
Tests/CLITests/SingleSignOnBrowserTests.swift:

    sso_flows.py BASE_A BASE_B CANARY SCREENSHOT_DIR

The provider knows ana (a write member), vic (in group readers, a names
member), eve (no member) and root (an admin member). Exits 0 when every
check holds; otherwise prints each failed check (never a token or the
canary) and exits 1. Prints `removal seen after N ms` for the test.
"""
import sys
import time

from selenium.webdriver.common.by import By

from browser_support import browser, navigate, settle

base_a, base_b, canary, shots = sys.argv[1:5]
failures = []
sources = []


def check(condition, what):
    if not condition:
        failures.append(what)
    return condition


def seen(driver):
    sources.append((driver.current_url, driver.page_source))
    return driver.page_source


def sso_sign_in(driver, base, sub):
    """The sign-in page's button, the provider's page (the person types who they are), back to the team page."""
    driver.get(base + "/")
    settle(driver)
    seen(driver)
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form#sign-in-sso button[type=submit]"))
    check("/oauth2/authorize" in driver.current_url, f"{sub}: the button leads to the provider (at {driver.current_url.split('?')[0]})")
    field = driver.find_element(By.CSS_SELECTOR, "input[name=sub]")
    field.send_keys(sub)
    navigate(driver, field.find_element(By.XPATH, "./ancestor::form//button[@type='submit']"))
    # The callback's page moves on to /ui/team by itself (meta refresh); wait for it when signed in.
    deadline = time.time() + 30
    while time.time() < deadline and "/ui/oidc/callback" in driver.current_url and "Signed in" in driver.title:
        time.sleep(0.1)
    settle(driver)
    return seen(driver)


def who(driver):
    found = driver.find_elements(By.CSS_SELECTOR, "header .who")
    return found[0].text if found else ""


def rows(driver):
    return [row.get_attribute("data-secret") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-secret]")]


ana, vic, eve, root = browser(), browser(), browser(), browser()
try:
    # The sign-in page offers the company's sign-in above the API-key form.
    ana.get(base_a + "/")
    settle(ana)
    seen(ana)
    check(ana.find_elements(By.CSS_SELECTOR, "form#sign-in-sso") and "Sign in with Acme SSO" in ana.page_source, "the sign-in page offers Sign in with Acme SSO")
    check(ana.find_elements(By.CSS_SELECTOR, "form#sign-in"), "the API-key form is still there (no --no-key-sign-in)")
    ana.save_screenshot(shots + "/webui-sso-sign-in.png")

    # ana (write): signed in, sees the team's names, adds and deletes one.
    sso_sign_in(ana, base_a, "ana")
    check(ana.current_url == base_a + "/ui/team", f"ana lands on /ui/team (at {ana.current_url.split('?')[0]})")
    check(who(ana) == "ana@acme.dev (Acme SSO)", f"the header names ana and how she signed in (got {who(ana)!r})")
    check("seeded_name" in rows(ana), "ana sees the team's names")
    form = ana.find_element(By.CSS_SELECTOR, "form#add-secret")
    form.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("sso_token")
    form.find_element(By.CSS_SELECTOR, "[name=value]").send_keys(canary)
    navigate(ana, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    seen(ana)
    check("Set team secret 'sso_token'" in ana.find_element(By.TAG_NAME, "main").text, "ana's add says Set team secret 'sso_token'")
    check("sso_token" in rows(ana), "sso_token is listed")
    ana.get(base_a + "/ui/team/delete?name=sso_token")
    settle(ana)
    navigate(ana, ana.find_element(By.CSS_SELECTOR, "form#confirm-delete button[type=submit]"))
    seen(ana)
    check("sso_token" not in rows(ana), "ana deleted sso_token")
    # The same session serves on the second server (sessions are in the database).
    ana.get(base_b + "/ui/team")
    settle(ana)
    check(ana.current_url == base_b + "/ui/team" and who(ana) == "ana@acme.dev (Acme SSO)", "ana's session works on server B too")

    # vic (group readers: names): names only.
    sso_sign_in(vic, base_b, "vic")
    check(who(vic) == "vic@acme.dev (Acme SSO)", f"the header names vic (got {who(vic)!r})")
    check("seeded_name" in rows(vic), "vic sees the team's names")
    check(not vic.find_elements(By.CSS_SELECTOR, "form#add-secret"), "a names member gets no add form")

    # eve: no member; a page says so and nobody is signed in.
    sso_sign_in(eve, base_a, "eve")
    check("you (eve@acme.dev) are not a member of this team; ask an admin" in eve.page_source, "eve is told she is not a member")
    check(eve.get_cookie("sf_session") is None, "eve gets no session cookie")
    eve.save_screenshot(shots + "/webui-sso-refused.png")
    eve.get(base_a + "/ui/team")
    settle(eve)
    check(eve.find_elements(By.CSS_SELECTOR, "form#sign-in-sso"), "eve is back at the sign-in page")

    # root (admin member) removes ana on the Members page; her session ends on both servers.
    sso_sign_in(root, base_a, "root")
    root.get(base_a + "/ui/members")
    settle(root)
    seen(root)
    check(root.find_elements(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']"), "the Members page lists ana")
    check(root.find_elements(By.CSS_SELECTOR, "tr[data-member='group:readers']"), "the Members page lists group:readers")
    root.save_screenshot(shots + "/webui-sso-members.png")
    row = root.find_element(By.CSS_SELECTOR, "tr[data-member='ana@acme.dev']")
    navigate(root, row.find_element(By.XPATH, ".//button[normalize-space()='Remove']"))
    navigate(root, root.find_element(By.CSS_SELECTOR, "form#confirm-member-remove button[type=submit]"))
    removed = time.time()
    check("Removed member 'ana@acme.dev'" in root.page_source, "root removed ana")
    for base in (base_b, base_a):
        ana.get(base + "/ui/team")
        settle(ana)
        check(ana.find_elements(By.CSS_SELECTOR, "form#sign-in-sso"), f"ana's session ended on {base}")
    print(f"removal seen after {int((time.time() - removed) * 1000)} ms")

    # Sign-out ends vic's session.
    vic.get(base_b + "/ui/team")
    settle(vic)
    navigate(vic, vic.find_element(By.CSS_SELECTOR, "form#sign-out button[type=submit]"))
    vic.get(base_b + "/ui/team")
    settle(vic)
    check(vic.find_elements(By.CSS_SELECTOR, "form#sign-in-sso"), "after signing out, vic is at the sign-in page")
finally:
    for driver in (ana, vic, eve, root):
        try:
            driver.quit()
        except Exception:
            pass

for url, source in sources:
    if canary in source:
        failures.append(f"the canary appeared in a page ({url.split('?')[0]})")
for failure in failures:
    print("FAILED: " + failure)
sys.exit(1 if failures else 0)
