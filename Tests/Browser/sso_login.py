#!/usr/bin/env python3
"""`secretfill login`'s browser part in a real headless Chromium (JavaScript
off): opens the address the CLI printed, signs in at oidc-provider-mock as
SUB, and waits for the CLI's loopback page. Run by
Tests/CLITests/SingleSignOnBrowserTests.swift:

    sso_login.py ADDRESS SUB

Prints the final page's words (never an address with a code in it) and
exits 0 when the CLI's page says "Signed in", 1 otherwise.
"""
import sys
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from browser_support import browser

address, sub = sys.argv[1:3]
driver = browser(window=None)
try:
    driver.get(address)
    field = WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "input[name=sub]"))
    field.send_keys(sub)
    page = driver.find_element(By.TAG_NAME, "html")
    field.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()
    WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(expected_conditions.staleness_of(page))
    deadline = time.time() + 30
    text = ""
    while time.time() < deadline:
        try:
            text = driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            text = ""
        if text:
            break
        time.sleep(0.2)
    print(text)
    sys.exit(0 if "Signed in" in text else 1)
finally:
    driver.quit()
