"""Passages → answer: the trained `reader` scores sentences, `answer` chooses and cites the quote,
`layout` keeps titles and headings out of it, `conversation` resolves follow-ups."""
