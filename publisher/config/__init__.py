"""publisher.toml: its tables, every key declared once with its type, default,
docstring, the work that needs it and its bounds (tables); how a key is declared
and the one check that reads the declarations (declare); the defaults needed
before anything is loaded (defaults); loading and validating
the file into one frozen Config (settings); and the rules for settings only some
work needs: mail and the schedule (rules).
"""
