"""A person signs up in a real browser: headless Chromium opens the page on a live server,
fills the form, submits, and lands on the page that says the welcome mail is on its way.
The enqueued task goes through the Cloud Tasks emulator back to the live server, runs, and
sends the mail over SMTP to a server on loopback, which the test reads.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

import pytest

PAGE_SECONDS = 10
PASSWORD = "f1rst-program!"


def fill_sign_up_form(browser, web_server, **fields: str) -> None:
    browser.fill_form(web_server.url + reverse("accounts:signup"), **fields)


@pytest.mark.both_databases
def test_a_person_signs_up_in_a_browser_and_the_welcome_mail_arrives(browser, web_server, local_run, mailbox):
    fill_sign_up_form(
        browser, web_server, username="ada", email="ada@example.com", password1=PASSWORD, password2=PASSWORD
    )

    WebDriverWait(browser.driver, PAGE_SECONDS).until(
        lambda driver: driver.current_url.endswith(reverse("accounts:signed-up"))
    )
    assert "welcome mail is on its way" in browser.driver.find_element(By.ID, "mail-on-its-way").text
    [message] = mailbox.wait_for(1)
    assert mailbox.envelope_recipients == [["ada@example.com"]]
    assert (message["To"], message["From"], message["Subject"]) == ("ada@example.com", "noreply@example.com", "Welcome")
    assert "Hello ada" in message.get_content()


def test_a_form_error_shows_on_the_page_in_the_browser(browser, web_server, local_run, mailbox):
    fill_sign_up_form(
        browser, web_server, username="ada", email="ada@example.com", password1=PASSWORD, password2="other"
    )

    # The form found may be the old page's, gone by the time its text is read: look again.
    WebDriverWait(browser.driver, PAGE_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda driver: "didn’t match" in driver.find_element(By.TAG_NAME, "form").text
    )
    assert browser.driver.current_url.endswith(reverse("accounts:signup"))
    assert not User.objects.exists()
    assert mailbox.messages == []
