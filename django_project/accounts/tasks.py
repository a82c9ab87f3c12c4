import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.tasks import task

logger = logging.getLogger(__name__)


@task
def send_welcome_email(user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        # Deleted before the email went out: nobody is left to welcome, and retrying
        # would not change that.
        logger.info("No welcome email: user %s no longer exists", user_id)
        return
    send_mail(
        subject="Welcome",
        message=f"Hello {user.get_username()}, your account is ready.",
        from_email=None,  # DEFAULT_FROM_EMAIL
        recipient_list=[user.email],
    )
