"""Data sources: the Source protocol, its registry and one subpackage per platform."""
