"""The subscriber web portal (Japanese, mobile-first, server-rendered) and its JSON API."""
