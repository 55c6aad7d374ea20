"""Kuaishou e-shop (快手小店) connector."""
