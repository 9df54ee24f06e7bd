"""The web archive: every distributed post, threaded, searchable, with permalinks.

Layering: `store`, `ids`, `parse`, `threading` and `search` sit beside
`delivery` (they import only `lists` and `lib`), so the mail path can archive a
post in the transaction that queues it. `views`, `feeds` and the API routes
sit on top with `web`.
"""
