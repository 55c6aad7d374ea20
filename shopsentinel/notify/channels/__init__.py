"""One module per channel; each exposes a pydantic ``Config`` and a ``...Notifier`` class."""
