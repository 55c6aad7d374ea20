"""Reading, normalizing and cleaning incoming metric data (files, API points)."""
