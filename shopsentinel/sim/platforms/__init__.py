"""Fake marketplace servers that verify signatures like the real platforms and serve a seeded dataset."""
