"""Functions that change state. They flush, never commit: the request or job commits once."""
