"""What the manager sees: the sanitiser, plain words, and the one presenter of run events.

Import the modules themselves (``gymconsole.present.sanitize``...); this package imports nothing.
"""
