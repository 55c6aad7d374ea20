"""Amazon Selling Partner API connector: client (HTTP + signing), streams, mapping, connector."""
