from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.forms import EMAIL_TAKEN, SignUpForm
from accounts.tasks import send_welcome_email


def sign_up(request: HttpRequest) -> HttpResponse:
    """GET: the form (and the CSRF cookie with it). POST: create the user, then redirect."""
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
                # Recorded with the user, in the same transaction, and sent to Cloud Tasks
                # once it commits (cloudtasks.enqueue.outbox): the task finds the user when it
                # runs, and after a rollback there is nothing to send.
                send_welcome_email.enqueue(user.pk)
        except IntegrityError:
            # Another sign-up with this address committed between the check and the insert.
            form.add_error("email", EMAIL_TAKEN)
        else:
            return redirect("accounts:signed-up")
    return render(request, "accounts/sign_up.html", {"form": form})


def signed_up(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signed_up.html")
