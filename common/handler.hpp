// The article's fib_handler for a blocking socket: read, answer every complete line, until the
// client leaves. Step 1 calls it for one client at a time; the threads step from one thread per
// client. Errors (reset, broken pipe, bad input) end this connection only.
#pragma once
#include "net.hpp"
#include "server.hpp"

namespace fibs {

// How the handler learns, while it waits for a request, that the server is stopping:
//   StopBy::polling   it polls stop_fd() beside the client (Step 1: one thread, one extra syscall
//                     per request);
//   StopBy::shutdown  it just blocks in recv(); the owner shuts the socket down to wake it (the
//                     threads step: many threads, no extra syscall).
enum class StopBy { polling, shutdown };

// Serves one client until it leaves. The caller owns (and closes) the socket.
void fib_handler(int client, const ServerOptions& opts, StopBy stop_by);

}  // namespace fibs
