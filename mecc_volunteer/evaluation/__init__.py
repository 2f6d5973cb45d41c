"""Evaluation: the instrument, the surveys volunteers answer, and the evaluators' pilot review."""
