"""Built-in captioners (image -> text), used by caption-driven selectors such as the Patch Matters main box."""
