"""Small services the views call: they turn loaded bodies into column values and rows into pages."""
