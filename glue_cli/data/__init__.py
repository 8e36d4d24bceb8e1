"""glue-cli's data layer: where rows come from and how they become batches: tasks, readers, sources, tokens, batches."""
