"""glue-cli's first-party plugins, registered through the ``glue_cli`` entry points like any other."""
