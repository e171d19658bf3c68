// Many scenarios in one process, and what the runner needs to know about it: which scenario is
// running (so a crash or a hang costs that one only), whether the harness itself hit a limit, and
// whether a scenario left something in this process that the next one would inherit.
//
// The runner passes a pipe as AFUNIX_BATCH_FD and reads one line per event:
//   begin <scenario>          the scenario starts (its trace, if any, follows its end)
//   end <scenario>            its trace is written
//   error <scenario> <what>   the harness could not do its own work (a limit: EMFILE, ENOMEM, ENOSPC)
//   dirty <scenario> <what>   it left process state behind; this process ends, the runner resumes
//                             the rest of the batch in a fresh one
// With AFUNIX_BATCH_ACK_FD (a pipe from the runner), the harness waits for one byte on it after the
// first begin and after each end: the runner lists what the scenario left outside its directory
// before it lets the next one start (runners/conformlib/leftovers.py).
// While a scenario runs, AFUNIX_SCENARIO names it (for backends and fixtures, never for scenarios).
// Without AFUNIX_BATCH_FD (a user running the program by hand, an import on another system) none of
// this happens and nothing is checked.
#pragma once

#include <string>

namespace afunix {
namespace batch {

// Called by main() before the scenarios run: takes the snapshot of this process's state that every
// scenario must leave unchanged, and registers the begin/end announcements with GoogleTest.
void install();

// Tells the runner that the harness itself failed ("pipe for an event: EMFILE"), from any process of
// the scenario. Also printed on stderr.
void harness_error(const std::string& what);

// Fewer descriptors than this and the scenarios that pass hundreds of them would observe the
// harness's limit instead of the kernel's behaviour (Linux's default soft limit is 1024).
constexpr unsigned long kNeededFds = 1024;

}  // namespace batch
}  // namespace afunix
