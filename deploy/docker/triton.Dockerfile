# Triton with the generated repository (lookalike export triton --out model_repository).
#   lookalike export triton --out deploy/docker/model_repository            # ONNX + TensorRT FP16 accelerator
#   docker build -f deploy/docker/triton.Dockerfile -t lookalike-triton deploy/docker
# TensorRT plans (--tensorrt) must be built inside this same image on the GPU type that serves them.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
# What the pipeline (BLS) model imports in the server's Python backend.
RUN pip install --no-cache-dir numpy==1.26.4 pillow==11.0.0 opencv-python-headless==4.11.0.86
COPY model_repository /models
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--strict-readiness=true", "--exit-timeout-secs=30"]
