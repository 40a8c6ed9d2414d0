"""Figures: every chart in the book is a function here that returns a plotly or matplotlib figure.

Import the submodule you need (``from gkl.viz import theory``); nothing is imported eagerly, so the
losses never depend on plotting libraries.
"""
