// The article's fib_handler for a blocking socket: recv, answer every complete line, send, until
// the client leaves. Step 1 calls it for one client at a time; the threads step runs it in one
// thread per client. Errors (reset, broken pipe, bad input) end this connection only.
#pragma once
#include "net.hpp"
#include "server.hpp"

namespace fibs {

// Serves one client until it leaves, or until a stop is requested (stop.hpp) and this thread's
// recv() is interrupted. The caller owns (and closes) the socket.
void fib_handler(const Fd& client, const ServerOptions& opts);

}  // namespace fibs
