// A clean stop on Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal that started the server has
// closed: nobody is left to read its log), and a second one that always ends the process.
#pragma once
#include <string>

namespace fibs {

// Installs a handler for SIGINT, SIGTERM and SIGHUP that only sets a flag. It is installed without
// SA_RESTART: a blocked accept() or recv() then returns -1 with errno EINTR instead of going on
// waiting, so the caller gets back to its loop and sees stop_requested().
//
// The first stop signal puts every stop signal back to its default action: a second one, of
// whichever kind, ends the process at once, whatever it is busy with (exit status 130 for SIGINT,
// 143 for SIGTERM, 129 for SIGHUP). A signal ignored when the process started stays ignored:
// SIGHUP under `nohup`, SIGINT in a background job of a shell without job control.
// One gap is left on purpose in the blocking servers: a signal that lands after the check and
// before the call is noticed only at the next return; the second Ctrl-C covers it.
void stop_on_signals();

// The same, for a server that waits on descriptors (Step 3's loop): returns the read end of a pipe
// that is readable from the first signal on, so the loop learns of the stop as of any socket. The
// signals are blocked in the calling thread and every thread it starts later (call it first), and
// one thread of its own takes them with sigwait(): at the first it writes to the pipe, at the
// second, of whichever kind, it lets the default action end the process. (No handler runs in the
// loop's thread, so nothing depends on when a handler would run, a delay ThreadSanitizer changes.)
// Signals ignored at start stay ignored, as above. Throws std::system_error if the pipe or the
// thread cannot be made, naming which.
int stop_on_signals_pipe();

// After stop_on_signals(_pipe): "" when every stop signal is taken, else one line that says which
// ones stay ignored and what stops the server instead (log_listening prints it after the
// readiness line, so that `kill -INT` on a server started with & from a script is not a silent
// no-op).
std::string stop_signals_ignored();

// True once SIGINT, SIGTERM or SIGHUP has arrived.
bool stop_requested();

}  // namespace fibs
