"""The pipeline: the worker that drains raw events through staging into the business layer."""
