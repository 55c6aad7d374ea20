"""Shopify Admin GraphQL API connector: client (HTTP + signing), streams, mapping, connector."""
