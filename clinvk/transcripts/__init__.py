"""The conversations the backends keep in their own stores, as clinvk reads them.

access: the adapter of a session's backend and its transcript files (the one `adapter_for`);
render: a transcript as text, markdown or JSON; cache: the derived search cache of their
texts; lookup: bringing that cache up to date for a search; reader: the reader that
`sessions search --transcripts` uses; search: finding sessions by a text. No Click here:
the commands and the API present what these return. Importing the package imports none
of them."""
