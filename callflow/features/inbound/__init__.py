"""Calls to a subscriber's 050 number: screening, forwarding, the handler."""
