"""The torture suite: kill anywhere, full disks, concurrency, SMTP faults and
hostile input, against the real command line. `make torture` runs it all;
`python -m torture --short` is the version `.ci/run` runs after `make test`.
The README's "Reliability" section has the figures of the last full run."""
