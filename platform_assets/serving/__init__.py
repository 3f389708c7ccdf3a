"""The prediction service: the online feature store, the served features, the champion and the web app.

Below ``layers/`` (the features layer publishes the online store through :mod:`.online_store`),
above ``engines/`` (the served features run the batch feature SQL with the engines' DuckDB
functions). No Dagster here: the server is a plain process.
"""
