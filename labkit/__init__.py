"""Lab tooling: render Asterisk configuration, run containers, provision demo data, mail sink."""
