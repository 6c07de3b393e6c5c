"""The small core that both :mod:`answers.kb` and :mod:`answers.lab` stand on: checked file I/O (atomic writes
with a sha256 beside them, the one cache directory) and the process ranks of a ``torchrun`` launch. It imports
nothing else of ``answers`` (tests/test_import_direction.py holds it to that)."""
