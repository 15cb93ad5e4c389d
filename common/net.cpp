#include "net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <stdexcept>
#include <system_error>

namespace fibs {

void Fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

std::string host_port(const std::string& host, std::uint16_t port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Addresses::Addresses(const std::string& host, std::uint16_t port, bool passive, const std::string& what) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list_);
    if (rc != 0) throw std::runtime_error(what + ": " + ::gai_strerror(rc));
}

Addresses::~Addresses() {
    if (list_ != nullptr) ::freeaddrinfo(list_);
}

Fd listen_on(const std::string& host, std::uint16_t port, int backlog, bool reuseport) {
    const std::string what = "cannot listen on " + host_port(host, port);
    Addresses addresses(host, port, /*passive=*/true, what);
    int err = EADDRNOTAVAIL;
    for (const addrinfo* a = addresses.first(); a != nullptr; a = a->ai_next) {
        Fd sock(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!sock) {
            err = errno;
            continue;
        }
        int one = 1;
        ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport) ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (::bind(sock.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(sock.get(), backlog) == 0) {
            return sock;
        }
        err = errno;
    }
    throw std::system_error(err, std::generic_category(), what);
}

std::string format_address(const sockaddr* addr) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(addr);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return host_port(text, ntohs(in->sin_port));
    }
    if (addr->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return host_port(text, ntohs(in6->sin6_port));
    }
    return "unknown";
}

std::string local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
    return format_address(reinterpret_cast<sockaddr*>(&ss));
}

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

Fd accept_client(int listener, std::string* peer, bool nonblocking) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int flags = SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    Fd client(::accept4(listener, reinterpret_cast<sockaddr*>(&ss), &len, flags));
    // No Nagle: every server sends its replies in one write per batch, but before a costly
    // request the replies made so far go out first (Conversation::next). With Nagle's algorithm
    // the write after that waits for the ACK of the first, which a client that waits for the whole
    // batch delays (40 ms on Linux). Measured both ways (fib-bench run --fib 30 --pipeline 2
    // --batch): p99 per batch 44 ms with Nagle, 2.0 ms without it, and 2.0 ms with Nagle and a
    // check that writes nothing, which cannot see a client that closed for good (only its reset
    // to a write says it has gone). CPU per reply with fib(1), 50 clients, alone and ×16
    // pipelined: 1.01 and 0.99 times what it was with Nagle.
    if (client) set_nodelay(client.get());
    if (client && peer != nullptr) *peer = format_address(reinterpret_cast<sockaddr*>(&ss));
    return client;
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool blocking_send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));  // a partial send: go on from there
    }
    return true;
}

bool client_gone(int fd) {
    tcp_info info{};  // the connection's state, without waiting and without taking its error
    socklen_t len = sizeof info;
    return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE;
}

bool client_left(int fd, std::string& out) {
    if (!out.empty()) {
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;  // reset, broken pipe
        if (n > 0) out.erase(0, static_cast<std::size_t>(n));
    }
    return client_gone(fd);
}

void ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }

void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace fibs
