"""Sample exports of one café chain with planted personas, defects and ground truth."""

from pipelines.sample_data.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
