// Socket helpers: the dull parts every server and client needs, so each server file holds only
// its concurrency model.
#pragma once
#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace fibs {

// Owns one file descriptor and closes it exactly once. Move-only.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// The TCP addresses of host:port (getaddrinfo), freed when it goes out of scope. `passive`: for
// bind(). Throws std::runtime_error whose what() reads "<what>: <reason>".
class Addresses {
public:
    Addresses(const std::string& host, std::uint16_t port, bool passive, const std::string& what);
    ~Addresses();
    Addresses(const Addresses&) = delete;
    Addresses& operator=(const Addresses&) = delete;
    const addrinfo* first() const { return list_; }  // follow ai_next for the others

private:
    addrinfo* list_ = nullptr;
};

// "127.0.0.1:25000", "[::1]:25000".
std::string host_port(const std::string& host, std::uint16_t port);

// Listens on host:port with SO_REUSEADDR. Throws std::system_error whose what() reads
// "cannot listen on 127.0.0.1:25000: Address already in use". With `reuseport`, SO_REUSEPORT too:
// several sockets may then listen on one port, and the kernel picks one for each new connection.
Fd listen_on(const std::string& host, std::uint16_t port, int backlog = 1024, bool reuseport = false);

// "127.0.0.1:54321" ("[::1]:54321" for IPv6).
std::string format_address(const sockaddr* addr);
std::string local_address(int fd);  // of a bound socket: the real port for --port 0
std::uint16_t local_port(int fd);    // the same, the port alone (0 if it has none)

// Accepts one client, non-blocking when asked, with TCP_NODELAY (net.cpp says why). Returns an
// empty Fd and leaves errno set on failure.
Fd accept_client(int listener, std::string* peer, bool nonblocking = false);

void set_nonblocking(int fd);
void set_nodelay(int fd);

// Sends every byte on a blocking socket, across partial sends and EINTR. MSG_NOSIGNAL: a closed
// peer gives false (EPIPE), never SIGPIPE.
bool blocking_send_all(int fd, std::string_view data);

// Has the client reset the connection? Asks the kernel for the connection's state (TCP_INFO), one
// system call that never waits. A client that only closed its sending side is not gone: it still
// expects its answers.
bool client_gone(int fd);

// Before a costly request: the replies already made go out first, as much as the socket takes
// without waiting (the rest stays in `out`, in order), then client_gone. A client that has closed
// for good answers that first reply with a reset, so it is seen gone one request later instead of
// having a whole batch computed for it.
bool client_left(int fd, std::string& out);

// Makes SIGPIPE harmless for the whole process: a peer that went away is an error code, not death.
void ignore_sigpipe();

// Raises the soft descriptor limit to the hard one, so thousands of connections are possible.
void raise_fd_limit();

}  // namespace fibs
