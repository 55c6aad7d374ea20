"""Shared foundations: errors, clock, types and settings used by every other package."""
