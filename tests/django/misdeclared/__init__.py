"""An app whose tasks module declares a task for a queue no backend routes: for the check."""
