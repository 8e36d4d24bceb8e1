"""glue-cli's training layer: backends and the one loop: contracts, engine base, trainer, evaluation."""
