"""Japanese IVR prompts: the manifest (id -> text) and the audio generator."""

from ivr_prompts.manifest import PROMPT_IDS, load_manifest

__all__ = ["PROMPT_IDS", "load_manifest"]
