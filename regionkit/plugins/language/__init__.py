"""Language models as components: image captioners and caption-to-class matchers (local ``transformers`` models only)."""
