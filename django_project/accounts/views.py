import functools

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from accounts.forms import SignUpForm
from accounts.tasks import send_welcome_email


@require_POST
def sign_up(request: HttpRequest) -> JsonResponse:
    form = SignUpForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    with transaction.atomic():
        user = form.save()
        # Enqueue only once the user is committed: the task may run at once, on another
        # server, and must find the user; after a rollback there is nobody to welcome.
        transaction.on_commit(functools.partial(send_welcome_email.enqueue, user.pk))
    return JsonResponse({"id": user.pk}, status=201)
