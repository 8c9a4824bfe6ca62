"""pytest (nbval) collects only the instructor notebooks: generated student copies fail by design."""
collect_ignore_glob = ["student/*"]
