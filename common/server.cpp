#include "server.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "fib.hpp"

namespace fibs {

void add_server_options(CLI::App& app, ServerOptions& opts) {
    app.add_option("--host", opts.host, "Address to listen on (0.0.0.0 exposes the server to your network)")
        ->capture_default_str();
    app.add_option("--port", opts.port, "TCP port; 0 picks a free port and prints it")->capture_default_str();
    app.add_flag("--quiet", opts.quiet, "Do not print a line per connection");
    app.add_option("--max-n", opts.max_n,
                   "Largest n accepted (0..92; fib(93) overflows 64 bits). Each step up costs 1.6 times "
                   "more; docs/protocol.md says what each n costs")
        ->check(CLI::Range(0u, kMaxFibN))
        ->capture_default_str();
    app.add_option("--max-clients", opts.max_clients,
                   "Clients served at once; past it a new client gets 'error: server full' and is closed")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
}

Fd start_server(const ServerOptions& opts) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    ignore_sigpipe();
    raise_fd_limit();
    try {
        Fd sock = listen_on(opts.host, opts.port);
        std::printf("Listening on %s\n", local_address(sock.get()).c_str());
        return sock;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        std::exit(1);
    }
}

void log_connection(const ServerOptions& opts, std::string_view peer) {
    if (!opts.quiet) std::printf("Connection %.*s\n", static_cast<int>(peer.size()), peer.data());
}

void log_closed(const ServerOptions& opts) {
    if (!opts.quiet) std::printf("Connection Closed\n");
}

void log_always(std::string_view message) {
    std::printf("%.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace fibs
