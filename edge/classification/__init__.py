"""Classifying face crops: the TFLite classifier, its preprocessing, quantization math, sidecar, MACs."""
