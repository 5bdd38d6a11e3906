"""The application: one plain function per command, taking `(config, now, ...)`
and returning a result. The command line, the service and the web app call
these; they never reach below. Nothing here prints: `report` words the results.

Modules: `pipeline` (publish, build: the pipeline itself), `guard` (what makes
a run cost what changed: run guard, caches, paused collector), `site` (the
steps several commands share: load, render, the next digest's selection),
`check`, `digest` (preview, test copy, --include), `feeds`, `send`, `bounces`,
`subscribers` (the list and unsubscribe), `service` (what `run` does beside
the pipeline: its start-up check, the scan's files, the digest run record),
`signups` (the work behind the list's pages), `mailer` (the worker sending
what sign-ups queue), `remember` (the nothing-changed shortcut's record),
`loading` (the configuration), `state` (the store opened for a block).

The package imports none of them: a command imports only its own.
"""
