"""The `lakehouse` command line: on top of every part it drives (producer, streams,
loaders, mock), so the shared `retail_lakehouse` package imports none of them."""
