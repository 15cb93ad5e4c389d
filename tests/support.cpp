#include "support.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
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

bool Client::backed_up(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int last = -1; std::chrono::steady_clock::now() < deadline;) {
        std::this_thread::sleep_for(20ms);
        int unread = 0;
        if (::ioctl(fd_.get(), FIONREAD, &unread) != 0) return false;
        if (unread > 0 && unread == last) return true;
        last = unread;
    }
    return false;
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

double cpu_seconds(pid_t pid) {
    auto stats = bench::read_proc_stats(pid);
    return stats ? stats->cpu_s : 0;
}

bool busy_beyond(pid_t pid, double from, double more, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (cpu_seconds(pid) - from < more) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

long vm_size_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7));
    }
    return -1;
}

bool signal_taken(pid_t pid, int sig, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    const unsigned long long bit = 1ull << (sig - 1);
    for (;;) {
        bool pending = false;
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);) {  // the process's, and each thread's
            if (line.rfind("ShdPnd:", 0) == 0 || line.rfind("SigPnd:", 0) == 0) {
                pending = pending || (std::stoull(line.substr(7), nullptr, 16) & bit) != 0;
            }
        }
        if (!pending) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
}

}  // namespace fibs::test
