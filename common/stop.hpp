// A clean stop on Ctrl-C (SIGINT) and SIGTERM, and a second one that always ends the process.
#pragma once

namespace fibs {

// Installs a handler for SIGINT and SIGTERM that only sets a flag. It is installed without
// SA_RESTART: a blocked accept() or recv() then returns -1 with errno EINTR instead of going on
// waiting, so the caller gets back to its loop and sees stop_requested().
//
// The handler is one-shot (SA_RESETHAND): a second Ctrl-C meets the default action and ends the
// process at once, whatever it is busy with (exit status 130 for SIGINT, 143 for SIGTERM).
// One gap is left on purpose in the blocking servers: a signal that lands after the check and
// before the call is noticed only at the next return; the second Ctrl-C covers it.
void stop_on_signals();

// The same, for a server that waits on descriptors (Step 3's loop): the handler also writes a
// byte to a pipe, and this returns the pipe's read end, readable from the first signal on. The
// loop then learns of the stop as of any socket ("the self-pipe trick"). Throws
// std::system_error if the pipe cannot be made.
int stop_on_signals_pipe();

// True once SIGINT or SIGTERM has arrived.
bool stop_requested();

}  // namespace fibs
