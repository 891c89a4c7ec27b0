"""The one base class for errors a user can act on: each edge (the `qa` command, the web app,
`python app.py`) shows its message as one line instead of a traceback."""


class UserError(Exception):
    """A mistake or missing piece the user can fix; the message names it and says what to do.
    `status`: the exit status of the `qa` command that meets it (1; 2 for a refused request)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status
