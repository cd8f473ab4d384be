"""`make bench`: the portal measured at province scale (see docs/benchmarks.md)."""
