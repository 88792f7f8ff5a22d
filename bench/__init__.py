"""`make bench`: time the whole pipeline against the floor and a pandas peer (docs/performance.md)."""
