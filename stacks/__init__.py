"""The application's own stack: the constructs composed for the Django app."""

# constructs_lib makes provider imports cheap; it must be imported before any
# cdktf_cdktf_provider_google module, which the stack modules import.
import constructs_lib  # noqa: F401
