// The servers' log: one line at a time into a bounded queue that one thread writes to stdout.
// Serving never waits for stdout: a pipe nobody reads (`fib-loop | less` left unscrolled) or a
// terminal stopped with Ctrl-S fills up, and then the log waits, not the loop, a handler or a stop.
#pragma once
#include <chrono>
#include <string_view>

namespace fibs {

// Any thread. The line is queued (without its "\n"); past kLogQueueLines queued lines it is
// dropped and counted, and the writer says how many once it catches up. Where no thread can be
// started (a process limit), the line is written at once instead.
void log_line(std::string_view line);
inline constexpr std::size_t kLogQueueLines = 4096;

// Waits until every queued line is written, at most `timeout`. Called at exit (atexit), so the
// last lines ("Shutting down") go out when stdout is read, and a stdout that is not cannot hold
// the process.
void log_drain(std::chrono::milliseconds timeout);

}  // namespace fibs
