#include "support.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "fib.hpp"
#include "proc_stats.hpp"
#include "protocol.hpp"
#include "server_process.hpp"

#ifndef FIBS_BIN_DIR
#error "FIBS_BIN_DIR must name <build dir>/bin"
#endif

namespace fibs::test {

namespace {

// Polls `done` every millisecond or so until it holds, at most `timeout`.
template <class Done>
bool eventually(std::chrono::milliseconds timeout, Done done) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

std::string bin(const std::string& name) { return std::string(FIBS_BIN_DIR) + "/" + name; }

Fd connect_to(const std::string& host, std::uint16_t port) {
    const std::string what = "cannot connect to " + host_port(host, port);
    Addresses addresses(host, port, /*passive=*/false, what);
    int err = ECONNREFUSED;
    for (const addrinfo* a = addresses.first(); a != nullptr; a = a->ai_next) {
        Fd sock(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (sock && ::connect(sock.get(), a->ai_addr, a->ai_addrlen) == 0) return sock;
        err = errno;
    }
    throw std::system_error(err, std::generic_category(), what);
}

std::string reply_to(std::string_view line, unsigned max_n) {
    std::string out;
    protocol::append_reply(out, line, max_n);
    return out;
}

Finished run_to_end(const std::string& exe, const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    Process process(exe, args);
    auto code = process.wait_exit(timeout);
    if (!code) code = process.stop(std::chrono::seconds(0));  // ran too long: killed
    std::string output;
    for (const auto& line : process.lines()) output += line + "\n";
    return {*code, output};
}

Client::Client(std::uint16_t port, const std::string& host) : fd_(connect_to(host, port)) {}

void Client::send(std::string_view bytes) {
    if (!blocking_send_all(fd_.get(), bytes)) throw std::runtime_error("send failed");
}

bool Client::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
        eof_ = true;  // orderly close, or reset
        return false;
    }
    buffered_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::optional<std::string> Client::read_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto nl = buffered_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<std::string> Client::read_to_end(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    if (!eof_) return std::nullopt;
    return std::exchange(buffered_, {});
}

bool Client::silent_for(std::chrono::milliseconds quiet) {
    if (!buffered_.empty()) return false;
    return !fill(std::chrono::steady_clock::now() + quiet) && !eof_;
}

bool Client::backed_up(pid_t server, std::chrono::milliseconds timeout) {
    sockaddr_storage peer{}, self{};
    socklen_t peer_len = sizeof peer, self_len = sizeof self;
    if (::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&self), &self_len) != 0) {
        return false;
    }
    auto port_of = [](const sockaddr_storage& a) {
        return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(a).sin6_port
                                             : reinterpret_cast<const sockaddr_in&>(a).sin_port);
    };
    return eventually(timeout, [&] {
        return server_side(port_of(peer), port_of(self)).untaken > 0 && running_threads(server) == 0;
    });
}

void Client::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

void Client::reset() {
    linger lg{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fd_.reset();
}

double cpu_of_fib(unsigned n) {
    double one = 1e9;
    for (int i = 0; i < 3; ++i) {
        double start = bench::thread_cpu_s();
        volatile std::uint64_t sink = fib(n);
        (void)sink;
        one = std::min(one, bench::thread_cpu_s() - start);
    }
    return one;
}

unsigned fib_costing(double seconds) {
    constexpr unsigned kFrom = 25;
    double first = std::max(cpu_of_fib(kFrom), 1e-6);
    unsigned steps = static_cast<unsigned>(std::ceil(std::log(std::max(seconds / first, 1.0)) / std::log(1.618)));
    return std::min(kFrom + steps, 60u);
}

std::optional<std::string> no_slow_requests() {
    static const std::optional<std::string> why = []() -> std::optional<std::string> {
        constexpr double kSlow = 50e-6;  // the recursion takes 0.5 to 1.5 ms on today's cores, a loop 50 ns
        double thirty = cpu_of_fib(30);
        if (thirty >= kSlow) return std::nullopt;
        char line[200];
        std::snprintf(line, sizeof line,
                      "fib(30) costs %.1f µs in this build, not the recursion's milliseconds: no request is slow, "
                      "and this test needs one (common/fib.cpp)",
                      thirty * 1e6);
        return line;
    }();
    return why;
}

double cpu_seconds(pid_t pid) {
    auto stats = bench::read_proc_stats(pid);
    return stats ? stats->cpu_s : 0;
}

bool busy_beyond(pid_t pid, double from, double more, std::chrono::milliseconds timeout) {
    return eventually(timeout, [&] { return cpu_seconds(pid) - from >= more; });
}

int running_threads(pid_t pid) {
    int running = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream stat(task.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;  // the thread has ended
        auto paren = line.rfind(')');  // the name may hold spaces and parentheses; the state follows it
        if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'R') ++running;
    }
    return running;
}

bool eventually_idle(pid_t pid, std::chrono::milliseconds timeout) {
    int quiet = 0;
    return eventually(timeout, [&] { return (quiet = running_threads(pid) == 0 ? quiet + 1 : 0) >= 10; });
}

bool computing(pid_t pid, int threads, std::chrono::milliseconds timeout) {
    return eventually(timeout, [&] { return running_threads(pid) >= threads; });
}

ServerSide server_side(std::uint16_t port, std::uint16_t client_port) {
    ServerSide out;
    for (const bench::TcpSocket& s : bench::tcp_sockets()) {
        if (s.state != 0x01 || s.local_port != port) continue;  // 01: established
        if (client_port != 0 && s.remote_port != client_port) continue;
        ++out.established;
        out.untaken += s.tx_queue;
        out.unread += s.rx_queue;
    }
    return out;
}

Fd connect_with_small_window(std::uint16_t port, int receive_buffer) {
    Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);  // before connect
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        throw std::system_error(errno, std::generic_category(), "cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    return sock;
}

bool read_everything(std::uint16_t port, int clients, std::chrono::milliseconds timeout) {
    return eventually(timeout, [&] {
        ServerSide s = server_side(port);
        return s.established >= clients && s.unread == 0;
    });
}

long vm_size_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7));
    }
    return -1;
}

bool signal_taken(pid_t pid, int sig, std::chrono::milliseconds timeout) {
    const unsigned long long bit = 1ull << (sig - 1);
    return eventually(timeout, [&] {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);) {  // the process's, and each thread's
            if ((line.rfind("ShdPnd:", 0) == 0 || line.rfind("SigPnd:", 0) == 0) &&
                (std::stoull(line.substr(7), nullptr, 16) & bit) != 0) {
                return false;
            }
        }
        return true;
    });
}

}  // namespace fibs::test
