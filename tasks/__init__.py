"""The TinyTorch build system: a declarative, incremental pipeline on doit."""
