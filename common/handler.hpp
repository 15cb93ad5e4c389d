// The article's fib_handler for a blocking socket: read, answer every complete line, until the
// client leaves. Step 1 calls it for one client at a time; the threads step from one thread per
// client. Errors (reset, broken pipe, bad input) end this connection only.
#pragma once
#include "net.hpp"
#include "server.hpp"

namespace fibs {

void fib_handler(Fd client, const ServerOptions& opts);

}  // namespace fibs
