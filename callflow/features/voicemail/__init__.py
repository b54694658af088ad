"""The voicemail center's deposit side: taking a message, its audio, crash recovery."""
