"""Renderers: each takes a finished Report and computes nothing new."""
