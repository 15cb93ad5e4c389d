#include "server.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <new>
#include <cstdlib>
#include <exception>
#include <fstream>

#include "log.hpp"
#include "stop.hpp"

namespace fibs {

Fd start_server(const ServerOptions& opts, bool reuseport) {
    ignore_sigpipe();
    raise_fd_limit();
    Fd sock;
    try {
        sock = listen_on(opts.host, opts.port, 1024, reuseport);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        std::exit(1);
    }
    // A server that could never hold a client would accept in a loop, each accept failing at once.
    if (!Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC))) {
        std::fprintf(stderr, "error: no file descriptor left for a client (the limit is %d: ulimit -n)\n",
                     descriptor_limit());
        std::exit(1);
    }
    return sock;
}

void log_listening(int sock, std::string_view about) {
    std::string line = "Listening on " + local_address(sock);
    if (!about.empty()) line += " (" + std::string(about) + ")";
    log_always(line);
    if (std::string ignored = stop_signals_ignored(); !ignored.empty()) log_always(ignored);
}

std::string group_digits(long long n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

int descriptor_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur > 10000000) return 10000000;
    return static_cast<int>(lim.rlim_cur);
}

int usable_cores() {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    int cores = ::sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : 1;
    std::ifstream cgroup("/proc/self/cgroup");  // cgroup v2: "0::/the/path"
    std::string line;
    while (std::getline(cgroup, line) && line.rfind("0::", 0) != 0) {
    }
    if (line.rfind("0::", 0) == 0) {
        std::ifstream max("/sys/fs/cgroup" + line.substr(3) + "/cpu.max");  // "max 100000" or "150000 100000"
        long long quota = 0, period = 0;
        std::string first;
        if (max >> first >> period && first != "max" && period > 0) {
            quota = std::stoll(first);
            cores = std::min<long long>(cores, (quota + period - 1) / period);
        }
    }
    return std::max(cores, 1);
}

void log_connection(const ServerOptions& opts, std::string_view peer) {
    if (!opts.quiet) log_line("Connection " + std::string(peer));
}

void log_closed(const ServerOptions& opts) {
    if (!opts.quiet) log_line("Connection Closed");
}

void log_always(std::string_view message) { log_line(message); }

void RefusalLog::note(std::string_view why) {
    std::lock_guard lock(mu_);
    if (said_.contains(why)) return;
    try {
        said_.emplace(why);
        log_always("refusing clients: " + std::string(why));
    } catch (const std::bad_alloc&) {
        // no memory to say it: the client is refused all the same
    }
}

}  // namespace fibs
