"""What earlier runs learned, so later runs do less: the caches of parsed and
rendered posts and the run guard (cache), and the nothing-changed shortcut taken
before the command line is imported (shortcut).
"""
