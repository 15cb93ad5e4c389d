// A clean stop on Ctrl-C (SIGINT) and SIGTERM for the servers that block in accept() and recv().
#pragma once

namespace fibs {

// Installs a handler for SIGINT and SIGTERM that only sets a flag. It is installed without
// SA_RESTART: a blocked accept() or recv() then returns -1 with errno EINTR instead of going on
// waiting, so the caller gets back to its loop and sees stop_requested().
//
// One gap is left on purpose: a signal that lands after the check and before the call is noticed
// only at the next return (closing that gap is what ppoll and signalfd are for; Step 3 uses the
// latter). So the handler is one-shot: a second Ctrl-C always ends the process.
void stop_on_signals();

// True once SIGINT or SIGTERM has arrived.
bool stop_requested();

}  // namespace fibs
