"""Analytics computed from spans at ingest: RED rollups (rate, errors, duration histogram
per service/operation/kind/minute) and service-dependency edges, shared by every backend.

``rollup`` turns a batch of spans into rows; a backend only stores and sums them
(``spyglass.storage.api.metrics``). ``series`` turns summed rows into Jaeger's SPM answers.
"""
