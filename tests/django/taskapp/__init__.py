"""An installed app whose tasks only the tests run: ones that record, fail, or flake."""
