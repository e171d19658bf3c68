"""What each verdict and status means, defined once (lit's ResultCode style): the runner, the
report, ./conform and the JUnit writer ask the verdict instead of keeping their own lists.

A *verdict* is what the runner saw for one (backend, scenario) cell, against the oracle alone. A
*status* is the verdict read against the backend's known deviations (runners/expectations/): a
FAIL that was expected is XFAIL, a PASS where a deviation was expected is XPASS. Whether a run is
green is a question about statuses: any *unexpected* status makes `./conform run` exit non-zero.

    PASS         the backend did what Linux does
    FAIL         it did something else (the cell's diff says what)
    FLAKY        two attempts gave different verdicts
    UNSUPPORTED  the scenario cannot run there (the backend says why); never a failure
    TIMEOUT      the scenario program hung past the runner's deadline
    CRASH        an actor or the program died of a signal
    ERROR        the cell could not be judged (no trace, a corrupt one): the run is in doubt
    XFAIL        a known deviation, seen again with the same signature (status only)
    XPASS        a known deviation that did not happen: the backend was fixed, or the entry is wrong
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    name: str
    is_failure: bool  # the backend deviated (counts against its score)
    retried: bool = False  # worth a second attempt (a deviation that does not repeat is FLAKY)
    expectable: bool = False  # an expectation file may list it as a known deviation
    unexpected: bool = False  # as a status: makes the run fail (an unexpected result)
    shown_as: str = ""  # the word a cell shows (default: the name)
    doc: str = ""

    def __str__(self):
        return self.name

    @property
    def label(self):
        return self.shown_as or self.name


PASS = Code("PASS", is_failure=False, doc="did what Linux does")
FAIL = Code("FAIL", is_failure=True, retried=True, expectable=True, unexpected=True,
            doc="did something else than Linux")
FLAKY = Code("FLAKY", is_failure=True, expectable=True, unexpected=True,
             doc="two attempts gave different verdicts")
UNSUPPORTED = Code("UNSUPPORTED", is_failure=False, shown_as="n/a",
                   doc="cannot run on this backend, by its own account; never a failure")
TIMEOUT = Code("TIMEOUT", is_failure=True, expectable=True, unexpected=True,
               doc="hung past the runner's deadline (not retried: it would cost the deadline again)")
CRASH = Code("CRASH", is_failure=True, retried=True, expectable=True, unexpected=True,
             doc="an actor or the scenario program died of a signal")
ERROR = Code("ERROR", is_failure=True, unexpected=True,
             doc="could not be judged (no trace, a corrupt trace): the run itself is in doubt")
XFAIL = Code("XFAIL", is_failure=True, doc="a known deviation, seen again with the same signature")
XPASS = Code("XPASS", is_failure=False, unexpected=True,
             doc="passed where a known deviation was expected: fixed upstream, or a stale entry")

VERDICTS = (PASS, FAIL, FLAKY, UNSUPPORTED, TIMEOUT, CRASH, ERROR)
STATUSES = (PASS, XFAIL, XPASS, FAIL, FLAKY, UNSUPPORTED, TIMEOUT, CRASH, ERROR)
_BY_NAME = {c.name: c for c in STATUSES}

VERDICT_NAMES = tuple(c.name for c in VERDICTS)
STATUS_NAMES = tuple(c.name for c in STATUSES)
RETRIED = tuple(c.name for c in VERDICTS if c.retried)
EXPECTABLE = tuple(c.name for c in VERDICTS if c.expectable)

# How the score counts each status, stated with every matrix: expected deviations are still
# deviations (the score is about the backend, not about its triage), UNSUPPORTED is left out.
SCORE_FORMULA = ("score = PASS / (cells - UNSUPPORTED); XFAIL counts as a failure like FAIL, "
                 "XPASS as a pass like PASS; 'unexpected' = FAIL + XPASS + FLAKY + TIMEOUT + CRASH + ERROR "
                 "not listed in the backend's expectation file")


def code(name):
    """The Code of a verdict or status name; a KeyError names the unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown verdict {name!r} (known: {', '.join(STATUS_NAMES)})") from None


def is_failure(name):
    return code(name).is_failure


def is_unexpected(name):
    return code(name).unexpected
