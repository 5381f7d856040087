"""Built-in matchers (caption + detected class names -> the names the caption mentions)."""
