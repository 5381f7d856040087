"""Sample regionkit plugin (test fixture)."""
