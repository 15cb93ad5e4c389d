// The flags every server shares, for the files that parse a command line. CLI11 is header-only
// and takes seconds to compile, so only those files include it (not server.hpp).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "fib.hpp"
#include "server.hpp"

namespace fibs {

// --host, --port, --quiet, --max-n, and --max-clients with the server's own words for its default.
inline void add_server_options(CLI::App& app, ServerOptions& opts, const std::string& max_clients_default) {
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
                   "Clients served at once; past it a new client gets 'error: server full' and is closed. "
                   "Default: " + max_clients_default)
        ->check(CLI::Range(1, 10000000));
}

}  // namespace fibs
