"""Conversational IVR voice-navigation backend: the aiohttp service."""
