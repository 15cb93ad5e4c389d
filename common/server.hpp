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

// Line-buffered stdout, SIGPIPE ignored, the descriptor limit raised, the listening socket.
// Prints "Listening on 127.0.0.1:25000" (always: it is the readiness line tests and the bench wait
// for), or "error: cannot listen on ...: <reason>" on stderr and exits 1.
Fd start_server(const ServerOptions& opts);

// "Connection 127.0.0.1:54321" and "Connection Closed", as in the article, unless --quiet.
void log_connection(const ServerOptions& opts, std::string_view peer);
void log_closed(const ServerOptions& opts);
// Printed even with --quiet: "Shutting down", and the refusals an Acceptor reports once.
void log_always(std::string_view message);


}  // namespace fibs
