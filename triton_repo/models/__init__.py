"""Model code that runs INSIDE Triton's Python backend (copied into the generated repository).

These files import ``triton_python_backend_utils`` and only numpy, Pillow, OpenCV and
onnxruntime: the server's interpreter is the separate ``.venv-triton`` (pytriton pins numpy<2),
so nothing here may import lookalike.
"""
