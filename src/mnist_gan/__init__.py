"""A reproducible GAN training pipeline on MNIST: the library behind `stages/`."""

import os

# TensorFlow's C++ start-up chatter (CPU feature notices) drowns the stages' output;
# users can still turn it back on by setting the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
