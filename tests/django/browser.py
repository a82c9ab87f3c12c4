"""Headless Chromium from Debian's packages, driven through Selenium and Debian's chromedriver.

Selenium rather than Playwright: Debian builds chromedriver from the same source and
version as chromium, so the pair always matches, and Selenium speaks the standard
WebDriver protocol to it. Playwright drives Chromium over its own protocol, is tested
against the browser builds it downloads (which this machine cannot), and ships a Node.js
driver of its own. Given the driver's path, Selenium looks nothing up on the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = "install Debian's chromium and chromium-driver packages (.ci/run does), or set CHROMIUM and CHROMEDRIVER"
# Headless and quiet: no sandbox (it cannot start as root), no GPU, and none of the
# connections Chromium makes by itself (this machine's network refuses them).
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


class BrowserUnavailable(RuntimeError):
    pass


class Browser:
    """A Chromium of its own, with a new empty profile; `driver` is the Selenium WebDriver."""

    def __init__(self) -> None:
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise BrowserUnavailable(f"{path} is not there: {INSTALL_HINT}")
        self.profile = tempfile.mkdtemp(prefix="tests-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise

    def fill_form(self, url: str, **fields: str) -> None:
        """Open `url` as a new visitor, type `fields` into the inputs of those names, submit."""
        self.driver.delete_all_cookies()
        self.driver.get(url)
        for name, value in fields.items():
            self.driver.find_element(By.NAME, name).send_keys(value)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
