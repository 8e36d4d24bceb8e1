"""Reporters: ordinary ``glue_on_event`` plugins."""
