"""The one exception the suite raises for bad input: it names the file and the problem in one line."""


class ConformError(Exception):
    """A problem the user can fix: a malformed descriptor or trace, a missing tool.

    str() is the one line to print: "<file>: <problem>".
    """

    def __init__(self, where, problem):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem
