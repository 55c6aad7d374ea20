"""The live service (``shopsentinel serve``): settings, app factory, live evaluation, scheduler."""
