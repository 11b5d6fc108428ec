"""Helpers of the book only: the chapters' figures, the reproduction report, the Colab set-up, course assignments.

The methods never import from here; ``experiments/`` does, to write a run's figures and tables."""
