"""Neural-network layers of Light CNN: Max-Feature-Map and the blocks built on it."""

from lcnn.nn.mfm import MaxFeatureMap, MFMConv2d, MFMLinear, max_feature_map

__all__ = ["MaxFeatureMap", "MFMConv2d", "MFMLinear", "max_feature_map"]
