"""A second, independently written scenario generator for judging detection beyond ``shopsentinel.sim``.

Bench code, not product code: ``python bench/fleet2/generator.py OUT --stores N --days D --seed S``.
"""
