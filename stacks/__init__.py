"""The application's own stack: the constructs composed for the Django app."""

# constructs_lib makes the Google bindings load only the resources a stack uses; imported
# before the stack modules, which load the bindings of their engine as they build.
import constructs_lib  # noqa: F401
