"""Background work: the job worker, the one outbound path, and one module per job kind."""
