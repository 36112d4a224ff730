"""Grading a class (`doit grade`): intake, isolation, executors, the gradebook. Imported by actions only."""
