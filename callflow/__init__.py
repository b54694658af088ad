"""050 Anshin Number call control: an asyncio Asterisk ARI application."""
