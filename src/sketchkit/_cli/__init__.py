"""Helpers of the ``sketchkit`` command line (:mod:`sketchkit.cli`): reading, tokenising,
sketch construction, output and the demo. Nothing here is public API."""
