"""The API's routers, one module per resource: thin - parse, authorise, call, answer."""
