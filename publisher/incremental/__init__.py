"""What earlier runs learned, so later runs do less.

- memo: the one protocol every record and cache below is stored and read by
  (atomic write, format, the code that wrote it, what it depends on; declined
  on any mismatch or damage) and the racy-mtime rule for the file stats they hold;
- cache: the caches of parsed and rendered posts, and the run guard, whose
  record (last-run.json) a full run writes for the next unchanged run to replay;
- shortcut: the nothing-changed shortcut taken before the command line is
  imported, whose record a full run or a replayed one writes beside the guard's.

The feed cache (`feeds.cache`) is a memo too; it lives with the feeds.
"""
