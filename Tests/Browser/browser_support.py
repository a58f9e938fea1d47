"""What the browser scripts beside this file share: a headless Chromium with
JavaScript off (the web pages must work without it), and waiting for a page.
The scripts import it by name (Python puts a script's own folder first on
its path)."""
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def browser(window="1100,760", performance_log=False):
    """Debian's chromium through its chromedriver, headless, JavaScript off.
    `performance_log` records network events (cross_origin.py reads each
    POST's status and headers from them)."""
    options = webdriver.ChromeOptions()
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"]
    if window:
        flags.append(f"--window-size={window}")
    for flag in flags:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    if performance_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    try:
        return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    except Exception:  # a slow first start of chromium on a busy machine: once more
        return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def settle(driver, seconds=60):
    """Waits until the current page has loaded. Errors while a page goes away
    (its execution context, for one) mean "not yet"."""
    WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_cdp_cmd("Runtime.evaluate", {"expression": "document.readyState"}).get("result", {}).get("value") == "complete")


def navigate(driver, element, seconds=60):
    """Clicks `element` and waits until the next page has replaced this one.
    60 s by default: over the in-memory backend the server runs inside the
    test process, on Swift's cooperative threads (two here), which the
    end-to-end tests beside it hold while they wait for their processes; a CI
    run at 61105a4 waited more than 15 s for the first sign-in."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,)).until(expected_conditions.staleness_of(page))
    settle(driver, seconds)
