"""The `detection` task (in progress, issue 11): data, metrics; the task registers once its models land."""
