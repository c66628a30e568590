"""Support for every stage: the error classes (each also the built-in exception
op-system 0.1.2 raised) and `paused_gc` for build stages.
"""
