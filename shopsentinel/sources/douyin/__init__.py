"""Douyin Shop (抖店, Doudian Open Platform) connector: client (HTTP + signing), streams, mapping, connector."""
