"""Helpers of the leukemia-xai-compendium."""
__version__ = "0.1.0"
