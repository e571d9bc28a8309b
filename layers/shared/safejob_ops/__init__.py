"""Safe Job ops automation: models, domain logic and AWS adapters shared by every Lambda."""
