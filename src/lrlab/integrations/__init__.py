"""lrlab inside other training frameworks, each an optional extra.

* :mod:`lrlab.integrations.lightning` -- ``LRLabCallback`` for PyTorch Lightning
  (``pip install 'lrlab[lightning]'``): the live monitor during ``fit``, its regime and advice
  in the trainer's logger, and on request an LR range test before training.

Importing this package imports no framework; each module imports its own.
"""
