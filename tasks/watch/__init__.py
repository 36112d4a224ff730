"""`doit watch`: a warm process that rebuilds and re-tests on every save (a doit command plugin)."""
