"""Every setting of the service, read once from `IVR_*` environment variables and `.env`.

This is the only module that reads the environment; everything else receives a `Settings`.
The README's configuration table is checked against this model by a test, so a new field needs
a row there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = PACKAGE_ROOT / "recognizer" / "models" / "default"
DEFAULT_FLOWS_DIR = PACKAGE_ROOT / "dialogs" / "examples"


class SettingsError(Exception):
    """Start-up configuration is invalid; the message names the `IVR_*` variable."""


class Settings(BaseSettings):
    """The service configuration (see the README's table for each field)."""

    model_config = SettingsConfigDict(
        env_prefix="IVR_", env_file=".env", extra="ignore", frozen=True
    )

    # --- service ---
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (webhooks, WebSockets, API).")
    public_url: str | None = Field(
        None, description="External base URL gateways call (Twilio signs requests against it)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the JSON logs on stdout."
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest accepted HTTP request body; larger is 413."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest a request body may take to arrive; slower is 408."
    )
    drain_timeout_s: float = Field(
        60.0, ge=0, description="On SIGTERM, how long calls in progress may take to finish."
    )
    tls_cert_file: Path | None = Field(None, description="PEM certificate to serve HTTPS itself.")
    tls_key_file: Path | None = Field(None, description="PEM private key for `tls_cert_file`.")
    api_auth: Literal["off", "required"] = Field(
        "off", description="API keys on `/v1/*` and `GET /calls/{id}`: `required` or `off`."
    )

    # --- store ---
    redis_url: str | None = Field(
        None,
        description="Redis URL (`redis://` or `rediss://`); unset means an in-process store.",
    )
    redis_ca_file: Path | None = Field(
        None, description="CA bundle to verify a `rediss://` server certificate."
    )
    redis_timeout_s: float = Field(2.0, gt=0, description="Socket timeout for Redis commands.")

    # --- recognizer ---
    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Folder of the acoustic model and LM.")
    engine: Literal["onnx", "torchscript"] = Field(
        "onnx", description="Acoustic model engine (torchscript needs the `torch` extra)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where ONNX Runtime runs: CUDA when available with `auto`."
    )
    gpu_mem_limit_bytes: int = Field(
        1024**3, ge=64 * 1024**2, description="Cap on ONNX Runtime's CUDA memory arena."
    )
    intra_op_threads: int = Field(2, ge=1, description="ONNX Runtime/torch threads per forward.")
    decode_workers: int = Field(
        2, ge=1, description="Threads computing features (and the beam search without processes)."
    )
    decode_processes: int = Field(
        1, ge=0, le=64, description="Worker processes running the CTC beam search; 0 = threads."
    )
    beam_width: int = Field(24, ge=1, le=512, description="CTC beam width.")
    batch_max_size: int = Field(16, ge=1, description="Largest batch of audio chunks per forward.")
    batch_max_wait_ms: float = Field(8.0, ge=0, description="Longest wait to fill a batch.")
    end_silence_ms: int = Field(700, ge=100, description="Trailing silence that ends an utterance.")
    no_input_ms: int = Field(5000, ge=500, description="Silence before a no-input event.")
    max_utterance_ms: int = Field(15000, ge=1000, description="Longest utterance before a cut.")
    partial_interval_ms: int = Field(400, ge=100, description="How often partial results are sent.")
    max_streams: int = Field(200, ge=1, description="Concurrent `/v1/stream` sockets per process.")

    # --- hot words ---
    hotwords_max_per_tenant: int = Field(
        1000, ge=1, description="Most phrases one tenant may have."
    )
    hotwords_max_phrase_chars: int = Field(64, ge=1, description="Longest hot-word phrase.")

    # --- admin API ---
    admin_rate_per_minute: int = Field(
        600, ge=1, description="Admin API requests per key per minute before 429."
    )

    # --- dialogs ---
    flows_dir: Path = Field(DEFAULT_FLOWS_DIR, description="Folder of YAML call-flow files.")
    default_flow: str = Field(
        "customer_service", description="Flow for calls whose number has no mapping."
    )
    flows_reload: bool = Field(True, description="Re-read flow files on change or SIGHUP.")
    context_ttl_s: int = Field(
        3600, ge=60, description="How long a call's dialog context lives in the store."
    )

    # --- gateways and calls ---
    twilio_auth_token: SecretStr | None = Field(
        None, description="Default Twilio auth token to check `X-Twilio-Signature`."
    )
    number_map_file: Path | None = Field(
        None,
        description="YAML/JSON map of called numbers to tenant, flow and Twilio token.",
    )
    audiosocket_port: int = Field(
        9092, ge=0, le=65535, description="Asterisk AudioSocket TCP port (0 disables it)."
    )
    prompts_dir: Path | None = Field(None, description="Recorded prompts: `<key>.<locale>.wav`.")
    max_calls: int = Field(100, ge=1, description="Concurrent calls per process.")
    max_calls_per_tenant: int = Field(50, ge=1, description="Concurrent calls per tenant.")
    max_call_s: int = Field(1800, ge=10, description="Longest call before it is hung up.")

    # --- callers' data ---
    data_keys: SecretStr | None = Field(
        None,
        description="Data encryption keys `id:base64key,...`, the first one used for writes.",
    )
    data_keys_file: Path | None = Field(None, description="File holding `data_keys` (a secret).")
    retention_days: int = Field(30, ge=1, description="Default retention of transcripts/outcomes.")
    redact_sensitive: bool = Field(True, description="Mask sensitive slot values everywhere.")
    log_transcripts: bool = Field(False, description="Write raw transcripts to logs (debug only).")


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation error into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            problems.append(f"IVR_{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


SETTINGS = web.AppKey("settings", Settings)
