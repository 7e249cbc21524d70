"""``sorami``: the command line for Sorami's REST API (its own distribution, ``sorami-cli``).

- :mod:`.main`: the argument parser and the exit statuses;
- :mod:`.commands`: one function per subcommand;
- :mod:`.kinds`: a job id is enough (finding whether it is an image or a video);
- :mod:`.http`: :class:`~sorami_cli.http.Client`, one method per endpoint;
- :mod:`.events`: the event-stream (SSE) client;
- :mod:`.progress`: following a job, progress bars, downloads and printing;
- :mod:`.config`: ``deploy/local.env`` and development tokens;
- :mod:`.errors`: :class:`~sorami_cli.errors.CliError` and the exit codes.
"""
