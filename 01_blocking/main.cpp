// Step 1: a blocking fib server. It accepts one client, serves it until it leaves, then accepts
// the next. A second client waits in the listen backlog the whole time (Step 2). (It takes
// --max-clients like the others but, serving one client at a time, never reaches it.)
#include <CLI/CLI.hpp>

#include "handler.hpp"
#include "server.hpp"
#include "stop.hpp"

namespace {

void fib_server(const fibs::Fd& sock, const fibs::ServerOptions& opts) {
    while (fibs::wait_readable(sock.get())) {
        std::string addr;
        fibs::Fd client = fibs::accept_client(sock.get(), &addr);
        if (!client) continue;  // the client left before we got to it
        fibs::log_connection(opts, addr);
        fibs::fib_handler(client.get(), opts, fibs::StopBy::polling);  // nobody else is served meanwhile
    }
}

}  // namespace

int main(int argc, char** argv) {
    fibs::ServerOptions opts;
    CLI::App app{"Step 1: blocking fib server, one client at a time"};
    fibs::add_server_options(app, opts);
    CLI11_PARSE(app, argc, argv);

    fibs::Fd sock = fibs::start_server(opts);
    fib_server(sock, opts);
    fibs::log_always("Shutting down");
    return 0;
}
