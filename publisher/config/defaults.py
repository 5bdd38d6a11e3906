"""The defaults that code running before the configuration is loaded needs too.

The nothing-changed shortcut (`incremental.shortcut`) answers before any of
`config` is imported; it finds the configuration file and the state folder
from these. Constants only: importing this module imports nothing.
"""

DEFAULT_FILE = "publisher.toml"  # the configuration, in the current folder
STATE_PATH = ".publisher/state.db"  # [state] path, relative to the configuration's folder
