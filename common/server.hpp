// What every server shares around its concurrency model: flags, start-up, the log lines.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "net.hpp"
#include "protocol.hpp"

namespace fibs {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 25000;
    bool quiet = false;
    unsigned max_n = protocol::kDefaultMaxN;
    int max_clients = 1024;  // served at once; past it: kServerFull and close
};

// --host, --port, --quiet, --max-n, --max-clients: the same on every server.
void add_server_options(CLI::App& app, ServerOptions& opts);

// Line-buffered stdout, SIGPIPE ignored, stop signals blocked (see stop.hpp), listening socket.
// Prints "Listening on 127.0.0.1:25000" (always: it is the readiness line tests and the bench wait
// for), or "error: cannot listen on ...: <reason>" on stderr and exits 1.
Fd start_server(const ServerOptions& opts);

// "Connection 127.0.0.1:54321" and "Connection Closed", as in the article, unless --quiet.
void log_connection(const ServerOptions& opts, std::string_view peer);
void log_closed(const ServerOptions& opts);
// Printed even with --quiet: "Shutting down", and the refusals an Acceptor reports once.
void log_always(std::string_view message);

// Accepts clients from a listening socket, and refuses them cleanly when the server cannot take
// more: out of descriptors (EMFILE) it gives up a spare descriptor for a moment to accept the
// client, tell it kServerFull and close it. Without that the listening socket stays readable and
// the accept loop spins. Each kind of refusal is logged once.
class Acceptor {
public:
    Acceptor(int listener, bool nonblocking);
    // The next client, or an empty Fd with errno set (EAGAIN: nobody is waiting; EMFILE: the
    // client was refused).
    Fd accept(std::string* addr);
    // Sends kServerFull and closes. `why` is logged the first time.
    void refuse(Fd client, std::string_view why);

private:
    int listener_;
    bool nonblocking_;
    Fd spare_;
    std::string said_;
};

}  // namespace fibs
