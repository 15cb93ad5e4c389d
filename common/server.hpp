// What every server shares around its concurrency model: flags, start-up, the log lines.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "net.hpp"
#include "protocol.hpp"

namespace fibs {

// The flags every server takes (options.hpp adds them to a command line).
struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 25000;
    bool quiet = false;
    unsigned max_n = protocol::kDefaultMaxN;
    int max_clients = 0;  // served at once; past it: kServerFull and close. 0: the server's default
};

// SIGPIPE ignored, the soft descriptor limit raised to the hard one, the listening socket (with
// SO_REUSEPORT when asked: net.hpp). Exits 1 with "error: cannot listen on ...: <reason>" on
// stderr, or "error: no file descriptor left for a client ..." when not even one could be served.
Fd start_server(const ServerOptions& opts, bool reuseport = false);

// "Listening on 127.0.0.1:25000", and " (<about>)" when given: always printed, it is the readiness
// line that tests, scripts and the bench wait for. A server prints it once it can serve.
void log_listening(int sock, std::string_view about = {});

// "19,984": digits in groups of three, for the lines people read.
std::string group_digits(long long n);

// The soft RLIMIT_NOFILE: how many descriptors this process may hold.
int descriptor_limit();

// The cores this process may run on: its affinity mask (taskset), and its cgroup's CPU quota
// (cpu.max, as a container's --cpus sets it), whichever is fewer; at least 1.
int usable_cores();

// "Connection 127.0.0.1:54321" and "Connection Closed", as in the article, unless --quiet.
void log_connection(const ServerOptions& opts, std::string_view peer);
void log_closed(const ServerOptions& opts);
// Printed even with --quiet: "Shutting down", and the refusals below.
void log_always(std::string_view message);

// "refusing clients: <why>", printed the first time each `why` happens: a server out of some
// resource may refuse thousands of clients a second, and one line says it. Thread-safe, so the
// loops of one server (Step 5) can share one; never throws, even out of memory.
class RefusalLog {
public:
    void note(std::string_view why);

private:
    std::mutex mu_;
    std::set<std::string, std::less<>> said_;
};


}  // namespace fibs
