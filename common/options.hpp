// The flags every server shares, for the files that parse a command line. CLI11 is header-only
// and takes seconds to compile, so only those files include it (not server.hpp).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "fib.hpp"
#include "server.hpp"

namespace fibs {

// A number as people write it: decimal digits only. (CLI11 reads 0x5 as 5 and 0b11 as 3, and says
// "not in range" for 1e1: the same rule for all, and a message that says it.)
inline const CLI::Validator kDecimal(
    [](std::string& s) {
        bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : "'" + s + "' is not a whole number in decimal";
    },
    "DECIMAL");

// --host, --port, --quiet, --max-n, and --max-clients with the server's own words for its default.
inline void add_server_options(CLI::App& app, ServerOptions& opts, const std::string& max_clients_default) {
    app.add_option("--host", opts.host, "Address to listen on (0.0.0.0 exposes the server to your network)")
        ->capture_default_str();
    app.add_option("--port", opts.port, "TCP port; 0 picks a free port and prints it")->check(kDecimal)->capture_default_str();
    app.add_flag("--quiet", opts.quiet, "Do not print a line per connection");
    app.add_option("--max-n", opts.max_n,
                   "Largest n accepted (0..92; fib(93) overflows 64 bits). Each step up costs 1.6 times "
                   "more; docs/protocol.md says what each n costs")
        ->check(kDecimal)
        ->check(CLI::Range(0u, kMaxFibN))
        ->capture_default_str();
    app.add_option("--max-clients", opts.max_clients,
                   "Clients served at once; past it a new client gets 'error: server full' and is closed. "
                   "Default: " + max_clients_default)
        ->check(kDecimal)
        ->check(CLI::Range(1, 10000000));
}

}  // namespace fibs
