"""Importable modules for the tests (not collected by pytest): functions pickled by reference
must live in a module a child process (multiprocessing "spawn") can import."""
