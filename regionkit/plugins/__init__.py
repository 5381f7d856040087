"""regionkit's built-in components, grouped by recipe; each is declared as an entry point exactly like a third party's.

Nothing here is imported until a config names a component (``regionkit list`` reads only
their docstrings).
"""
