"""Call features: one module per service the caller reaches."""
