"""Judged evaluation (Japanese MT-Bench and the like): parsing judges' ratings, FastChat's file
formats, per-model scores with intervals over questions, and agreement between judges."""
