// Step 1: a blocking fib server. fib_server accepts one client and serves it until it leaves, then
// accepts the next; a second client waits in the listen backlog the whole time (Step 2).
// The other half of the step, fib_handler, is in common/handler.cpp: the threads step runs the
// same handler, as in the article. (It takes --max-clients like the others but, serving one client
// at a time, never reaches it.)
#include <CLI/CLI.hpp>

#include "handler.hpp"
#include "options.hpp"
#include "server.hpp"
#include "stop.hpp"

namespace {

void fib_server(const fibs::Fd& sock, const fibs::ServerOptions& opts) {
    while (!fibs::stop_requested()) {
        std::string addr;
        fibs::Fd client = fibs::accept_client(sock.get(), &addr);  // blocks until a client comes
        if (!client) continue;  // EINTR (perhaps Ctrl-C), or the client left before we got to it
        fibs::log_connection(opts, addr);
        fibs::fib_handler(client, opts);  // nobody else is served meanwhile
    }
}

}  // namespace

int main(int argc, char** argv) {
    fibs::ServerOptions opts;
    CLI::App app{"Step 1: blocking fib server, one client at a time"};
    fibs::add_server_options(app, opts, "none needed: one client is served at a time, the others wait in the "
                                        "listen backlog (the flag is accepted like on every server)");
    CLI11_PARSE(app, argc, argv);

    fibs::stop_on_signals();  // before the readiness line: a SIGTERM right after it is handled
    fibs::Fd sock = fibs::start_server(opts);
    fibs::log_listening(sock.get());
    fib_server(sock, opts);
    fibs::log_always("Shutting down");
    return 0;
}
