"""The sign-up page: a form with its CSRF token; a valid POST creates the user, enqueues the
welcome email once committed, and redirects; errors show on the page.

Requests go through a client that enforces CSRF and keeps cookies, as a browser does
(Django's test client skips the check unless told). Cloud Tasks is the fake that records
CreateTask calls, so a test sees when one is made. The browser test is test_browser.py.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from accounts.forms import EMAIL_TAKEN
from cloudtasks.wire.payload import decode
from tests.django.backend_settings import tasks_setting

PASSWORD = "f1rst-program!"
SIGN_UP = {"username": "ada", "email": "ada@example.com", "password1": PASSWORD, "password2": PASSWORD}
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def recorded_enqueues(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(
        "projects/example-project/locations/europe-west1/queues/default",
        emulator_host=fake_cloud_tasks.address,
    )
    return fake_cloud_tasks.requests


@pytest.fixture
def browser_like() -> Client:
    return Client(enforce_csrf_checks=True)


def sign_up(client: Client, **fields: str):
    """GET the page, then POST the form with the token it carries, as a browser would."""
    page = client.get(reverse("accounts:signup"))
    [token] = CSRF_FIELD.findall(page.content.decode())
    return client.post(reverse("accounts:signup"), {**SIGN_UP, **fields, "csrfmiddlewaretoken": token})


class RolledBack(Exception):
    pass


def test_page_shows_the_form_and_sets_the_csrf_cookie(browser_like):
    page = browser_like.get(reverse("accounts:signup"))

    html = page.content.decode()
    assert page.status_code == 200
    assert all(f'name="{field}"' in html for field in SIGN_UP)
    assert CSRF_FIELD.search(html)
    assert "csrftoken" in page.cookies


def test_root_leads_to_the_sign_up_page(browser_like):
    assert browser_like.get("/").url == reverse("accounts:signup")


def test_post_without_the_csrf_token_is_refused(browser_like, recorded_enqueues):
    browser_like.get(reverse("accounts:signup"))

    response = browser_like.post(reverse("accounts:signup"), SIGN_UP)

    assert response.status_code == 403
    assert not User.objects.exists()
    assert recorded_enqueues == []


@pytest.mark.both_databases
def test_sign_up_creates_the_user_and_redirects_to_the_mail_on_its_way_page(browser_like):
    response = sign_up(browser_like)

    assert response.status_code == 302
    assert response.url == reverse("accounts:signed-up")
    assert User.objects.get(username="ada").email == "ada@example.com"
    assert "welcome mail is on its way" in browser_like.get(response.url).content.decode()


def test_sign_up_enqueues_the_welcome_email_for_the_new_user(browser_like, recorded_enqueues):
    sign_up(browser_like)

    [request] = recorded_enqueues
    sent = decode(request.task.http_request.body)
    assert (sent.task_path, sent.args) == ("accounts.tasks.send_welcome_email", [User.objects.get().pk])


@pytest.mark.both_databases
def test_welcome_email_is_enqueued_only_when_the_user_is_committed(browser_like, recorded_enqueues):
    with transaction.atomic():  # as if the request ran inside a caller's transaction
        sign_up(browser_like)
        assert recorded_enqueues == []

    assert len(recorded_enqueues) == 1


@pytest.mark.both_databases
def test_rolled_back_sign_up_enqueues_nothing(browser_like, recorded_enqueues):
    with pytest.raises(RolledBack), transaction.atomic():
        sign_up(browser_like)
        raise RolledBack

    assert recorded_enqueues == []
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password2": "different"}, "password2", "The two password fields didn"),
        ({"password1": "password", "password2": "password"}, "password2", "This password is too common."),
        ({"password1": "x9!", "password2": "x9!"}, "password2", "This password is too short."),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
    ],
    ids=["passwords differ", "common password", "short password", "bad email"],
)
def test_invalid_sign_up_shows_the_errors_on_the_page(browser_like, recorded_enqueues, fields, field, message):
    response = sign_up(browser_like, **fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert not User.objects.exists()
    assert recorded_enqueues == []


@pytest.mark.both_databases
def test_an_email_address_signs_up_once_whatever_its_case(browser_like, recorded_enqueues):
    sign_up(browser_like)

    response = sign_up(browser_like, username="ada2", email="ADA@example.com")

    assert EMAIL_TAKEN in response.content.decode()
    assert User.objects.count() == 1
    assert len(recorded_enqueues) == 1


@pytest.mark.both_databases
def test_the_database_refuses_a_second_user_with_the_same_email():
    # What settles two sign-ups that both passed the form's check at the same time.
    User.objects.create_user("ada", "ada@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("ada2", "Ada@Example.com")

    User.objects.create_user("root", "")  # users without an address are not limited
    User.objects.create_user("admin", "")
