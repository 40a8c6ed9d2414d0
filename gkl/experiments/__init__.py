"""Experiments on top of the methods: profiles, the run cache, the parallel runner, statistics and
the one verdict rule, teachers, summaries for the chapters."""
