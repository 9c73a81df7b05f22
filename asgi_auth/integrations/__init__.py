"""One-line installs for frameworks whose OpenAPI document lives on the app object."""
