# syntax=docker/dockerfile:1.7
# Two runtime targets from one file:
#   docker build --target cpu -t ivr-voice:cpu .   (python:3.11-slim, onnxruntime)
#   docker build --target gpu -t ivr-voice:gpu .   (NVIDIA CUDA runtime, onnxruntime-gpu)
# Layers, from the least to the most often changed: base OS, the dependency virtualenv (built
# from pyproject.toml alone, so a code change never rebuilds it), the model, the code. The
# model and code are `COPY --link` layers: a new model rebuilds only the model layer.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------- dependencies (CPU)
FROM ${PYTHON_IMAGE} AS cpu-deps
# kenlm has no wheel: it compiles from its sdist (g++, cmake from PyPI, compression headers).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential zlib1g-dev libbz2-dev liblzma-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml ./
# The dependency list comes from pyproject.toml alone (no source yet), so this layer is rebuilt
# only when the dependencies change; `ivr` is the console script pip would write for the project.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], sep='\n')" > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
 && printf '#!/opt/venv/bin/python\nimport sys\nfrom ivr.cli import main\nsys.exit(main())\n' > /opt/venv/bin/ivr \
 && chmod 0755 /opt/venv/bin/ivr

# ---------------------------------------------------------------- dependencies (GPU)
FROM ${CUDA_IMAGE} AS gpu-deps
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.12 python3.12-venv python3.12-dev \
      build-essential zlib1g-dev libbz2-dev liblzma-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml ./
# onnxruntime-gpu (the `gpu` extra) replaces onnxruntime: both provide the same module.
RUN python3.12 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*[d for d in p['dependencies'] if not d.startswith('onnxruntime')], *p['optional-dependencies']['gpu'], sep='\n')" > requirements.txt \
 && python3.12 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
 && printf '#!/opt/venv/bin/python\nimport sys\nfrom ivr.cli import main\nsys.exit(main())\n' > /opt/venv/bin/ivr \
 && chmod 0755 /opt/venv/bin/ivr

# ---------------------------------------------------------------- code (CPU)
# The code without the model (its own layer below) and without the training package, compiled
# to byte-code now because the root filesystem is read-only at run time.
FROM ${PYTHON_IMAGE} AS cpu-source
WORKDIR /app
COPY ivr ./ivr
COPY recognizer ./recognizer
COPY dialogs ./dialogs
COPY hotwords ./hotwords
RUN rm -rf recognizer/models recognizer/training \
 && python -m compileall -q /app

# ---------------------------------------------------------------- code (GPU)
FROM gpu-deps AS gpu-source
WORKDIR /app
COPY ivr ./ivr
COPY recognizer ./recognizer
COPY dialogs ./dialogs
COPY hotwords ./hotwords
RUN rm -rf recognizer/models recognizer/training \
 && python3.12 -m compileall -q /app

# ---------------------------------------------------------------- runtime (CPU)
FROM ${PYTHON_IMAGE} AS cpu
LABEL org.opencontainers.image.title="ivr-voice" \
      org.opencontainers.image.description="Self-hosted conversational IVR backend (CPU)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/ivr-voice/ivr-voice"
RUN groupadd --system --gid 10001 ivr \
 && useradd --system --uid 10001 --gid ivr --no-create-home --home-dir /tmp --shell /usr/sbin/nologin ivr
COPY --from=cpu-deps /opt/venv /opt/venv
WORKDIR /app
COPY --link recognizer/models /app/recognizer/models
COPY --link --from=cpu-source /app /app
# Everything the process may write goes to /tmp, a volume (an emptyDir/tmpfs in Kubernetes).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR=/tmp \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    IVR_HOST=0.0.0.0 \
    IVR_PORT=8080 \
    IVR_AUDIOSOCKET_PORT=9092 \
    IVR_LOG_LEVEL=INFO \
    IVR_DEVICE=cpu \
    IVR_DRAIN_TIMEOUT_S=60
VOLUME ["/tmp"]
EXPOSE 8080 9092
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os,ssl,urllib.request as u; s='https' if os.environ.get('IVR_TLS_CERT_FILE') else 'http'; u.urlopen(s+'://127.0.0.1:'+os.environ.get('IVR_PORT','8080')+'/healthz',timeout=3,context=ssl._create_unverified_context())"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ivr", "serve"]

# ---------------------------------------------------------------- runtime (GPU)
FROM ${CUDA_IMAGE} AS gpu
ARG DEBIAN_FRONTEND=noninteractive
LABEL org.opencontainers.image.title="ivr-voice" \
      org.opencontainers.image.description="Self-hosted conversational IVR backend (CUDA)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/ivr-voice/ivr-voice"
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.12 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ivr \
 && useradd --system --uid 10001 --gid ivr --no-create-home --home-dir /tmp --shell /usr/sbin/nologin ivr
COPY --from=gpu-deps /opt/venv /opt/venv
WORKDIR /app
COPY --link recognizer/models /app/recognizer/models
COPY --link --from=gpu-source /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR=/tmp \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    IVR_HOST=0.0.0.0 \
    IVR_PORT=8080 \
    IVR_AUDIOSOCKET_PORT=9092 \
    IVR_LOG_LEVEL=INFO \
    IVR_DEVICE=cuda \
    IVR_GPU_MEM_LIMIT_BYTES=1073741824 \
    IVR_DRAIN_TIMEOUT_S=60
VOLUME ["/tmp"]
EXPOSE 8080 9092
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os,ssl,urllib.request as u; s='https' if os.environ.get('IVR_TLS_CERT_FILE') else 'http'; u.urlopen(s+'://127.0.0.1:'+os.environ.get('IVR_PORT','8080')+'/healthz',timeout=3,context=ssl._create_unverified_context())"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ivr", "serve"]
