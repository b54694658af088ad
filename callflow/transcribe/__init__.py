"""Voicemail transcription: the Whisper recogniser (model), the job worker (worker) and its
process (``python -m callflow.transcribe``). Never imported by the call path: the worker runs
in its own process (the ``transcribe`` extra), the app and the portal only read and write its
table through callflow.store.transcripts."""
