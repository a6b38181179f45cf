"""Keras side of the benchmark: the original LCNN-9 built from its layer list, as a worker.

Runs in its own virtual environment with Keras 3 and tensorflow-cpu (see run.sh).
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402
from keras import layers  # noqa: E402

from cases import CASES, CONV_LAYERS, DENSE_UNITS  # noqa: E402
from protocol import serve  # noqa: E402


@keras.saving.register_keras_serializable()
class Maxout(layers.Layer):
    """Max-Feature-Map: the element-wise maximum of the two halves of the last axis."""

    def call(self, inputs):
        first, second = tf.split(inputs, 2, axis=-1)
        return tf.maximum(first, second)


def build_model(height: int, width: int, channels: int, classes: int) -> keras.Model:
    """Build and compile the original LCNN-9: MFM convolutions, pooling, batch norm, MFM dense, softmax."""
    batch_norm_after = {2, 3, 4, 6, 7, 8}  # 1-based conv layers followed by batch norm
    inputs = keras.Input((height, width, channels))
    x = inputs
    for index, (kernel, filters, pool) in enumerate(CONV_LAYERS, start=1):
        x = layers.Conv2D(filters, kernel, padding="same")(x)
        x = Maxout()(x)
        if pool:
            x = layers.MaxPooling2D(2, strides=2, padding="valid")(x)
        if index in batch_norm_after:
            x = layers.BatchNormalization(momentum=0.99, epsilon=1e-3)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(DENSE_UNITS)(x)
    x = Maxout()(x)
    x = layers.BatchNormalization(momentum=0.99, epsilon=1e-3)(x)
    x = layers.Dropout(0.75)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


_built: dict = {}


def build(case: str):
    if case not in _built:
        height, width, channels, classes, batch = CASES[case]
        keras.utils.set_random_seed(0)
        model = build_model(height, width, channels, classes)
        rng = np.random.default_rng(0)
        inputs = tf.constant(rng.standard_normal((batch, height, width, channels), dtype=np.float32))
        targets = tf.constant(rng.integers(0, classes, batch))
        _built[case] = (model, inputs, targets)
    return _built[case]


def handle(request: dict) -> dict:
    if request["cmd"] == "info":
        return {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    model, inputs, targets = build(request["case"])
    if request["mode"] == "train":
        def step():
            model.train_on_batch(inputs, targets)
    else:
        def step():
            model.predict_on_batch(inputs)
    for _ in range(request["warmup"]):
        step()
    times = []
    for _ in range(request["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"step_s": statistics.median(times), "times": times, "jit_compile": str(model.jit_compile)}


if __name__ == "__main__":
    serve(handle)
