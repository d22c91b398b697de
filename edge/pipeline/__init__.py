"""The loop: one step per frame, the builder that makes it from a config, its stats."""
