// A clean stop on SIGINT/SIGTERM, seen by every thread and every loop the same way.
#pragma once

namespace fibs {

// Blocks SIGINT and SIGTERM and opens a signalfd for them. Call it before starting any thread
// (threads inherit the blocked mask). Nobody ever reads the signalfd, so once a stop signal has
// arrived, stop_fd() polls readable in every thread for good.
void block_stop_signals();

// Watch it beside your sockets.
int stop_fd();

// Blocks until fd is readable (or has hung up) or a stop was requested. False means: stop.
bool wait_readable(int fd);

}  // namespace fibs
