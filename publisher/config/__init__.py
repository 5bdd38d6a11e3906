"""publisher.toml: loading and validating it into one frozen Config (settings), and
the rules for settings only some work needs: mail and the schedule (rules).
"""
