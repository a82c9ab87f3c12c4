from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

EMAIL_TAKEN = "An account with this email address already exists."


class SignUpForm(UserCreationForm):
    email = forms.EmailField(help_text="Where the welcome email goes.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        # The unique index (migration 0001) settles a race between two sign-ups; this
        # check gives the usual case its message on the form.
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(EMAIL_TAKEN, code="email_taken")
        return email
