"""The ``yardwatch`` command.

``main.py`` composes the Hydra config of a command and dispatches it; one module per command turns the composed
config into plain arguments for one library call. Only this package imports Hydra or sees a ``DictConfig``.
"""
