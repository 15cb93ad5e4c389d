// A clean stop on SIGINT/SIGTERM, seen by every thread and every loop the same way.
#pragma once

namespace fibs {

// Installs the SIGINT and SIGTERM handlers. The handler only writes one byte to a pipe that is
// never drained, so from then on stop_fd() polls readable in every thread for good.
void install_stop_handlers();

// The read end of that pipe: watch it beside your sockets.
int stop_fd();

bool stop_requested();
void request_stop();  // what the signal handler does; also for in-process tests

// Blocks until fd is readable (or has hung up) or a stop was requested. False means: stop.
bool wait_readable(int fd);

}  // namespace fibs
