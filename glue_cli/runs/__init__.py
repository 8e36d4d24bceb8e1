"""glue-cli's runs layer: the run directory on disk: layout, atomic writes, and what is read back from runs."""
