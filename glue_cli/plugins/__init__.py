"""glue-cli's plugins layer: the plugin system: hooks, the manager, registries, scaffolds, pip, reporter selection."""
