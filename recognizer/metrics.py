"""The recognizer's Prometheus series, registered on the app's registry (one set per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class RecognizerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.batch_size = Histogram(
            "ivr_recognizer_batch_size_windows",
            "Audio windows per forward pass of the acoustic model.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.queue_wait = Histogram(
            "ivr_recognizer_queue_wait_seconds",
            "Time a window waited in the batcher before its forward began.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inference = Histogram(
            "ivr_recognizer_inference_seconds",
            "Duration of one batched forward pass.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decode = Histogram(
            "ivr_recognizer_decode_seconds",
            "Duration of one beam search (final hypothesis).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rtf = Histogram(
            "ivr_recognizer_real_time_factor_ratio",
            "Processing time of an utterance's final result divided by its audio duration.",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=registry,
        )
        self.final_latency = Histogram(
            "ivr_recognizer_final_latency_seconds",
            "From the end-of-speech decision to the final result being ready.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.vad_batch_size = Histogram(
            "ivr_recognizer_vad_batch_size_windows",
            "32 ms windows of all streams per Silero VAD run.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.active_streams = Gauge(
            "ivr_recognizer_active_streams",
            "Recognition streams open in this process.",
            registry=registry,
        )

    def batch(self, size: int, queue_wait_s: list[float], inference_s: float) -> None:
        self.batch_size.observe(size)
        for wait in queue_wait_s:
            self.queue_wait.observe(wait)
        self.inference.observe(inference_s)
