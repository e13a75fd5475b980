"""The frozen prefix's maps of training views, computed once through ONNX Runtime and cached.

The first stages of MobileNetV2 never change during tuning, so their 96 x 14 x 14 maps of a fixed
set of augmented views are all the tuned tail needs: on two shared cores the prefix runs at about
25 ms a view in ONNX Runtime on one thread (eager torch: about 10x slower), and the tail then trains
for several epochs on the cache. ``PrefixMaps`` looks like an embedder to ``extract_features``:
its "vectors" are the flattened maps (not normalised).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from embedder.preprocess import IMAGENET_MEAN, IMAGENET_STD, to_array
from embedder.training.backbone import Prefix


class PrefixMaps:
    """Images -> flattened prefix maps (n, channels * side * side), float32."""

    def __init__(self, prefix: Prefix, image_size: int = 224, threads: int = 1) -> None:
        import onnxruntime as ort

        self.image_size = image_size
        with torch.inference_mode():
            shape = prefix(torch.zeros(1, 3, image_size, image_size)).shape[1:]
        self.map_shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        self.dim = int(np.prod(self.map_shape))
        self.spec = f"mobilenet_v2-prefix{len(prefix.stages)}|{image_size}px"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prefix.onnx"
            torch.onnx.export(
                prefix.eval(),
                (torch.zeros(1, 3, image_size, image_size),),
                str(path),
                input_names=["input"],
                output_names=["maps"],
                dynamic_axes={"input": {0: "batch"}, "maps": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        batch = to_array(images, self.image_size, IMAGENET_MEAN, IMAGENET_STD)
        maps = self._session.run(None, {"input": batch})[0]
        return np.asarray(maps, np.float32).reshape(len(images), -1)


__all__ = ["PrefixMaps"]
