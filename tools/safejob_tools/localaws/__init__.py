"""The local AWS harness: moto server in-process, the real template deployed into it, handlers run in-process."""
