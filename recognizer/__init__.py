"""Audio in, text out: codecs, features, VAD, engines, batching, decoding."""
