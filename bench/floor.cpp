// fib-floor: a ruler, not a lesson. The least a server can do for this protocol on this machine,
// so that fib-bench compare can print every step's figures beside it, in the same run: one thread,
// epoll, level-triggered, each socket registered once; read, answer every complete line, send.
//
// What it leaves out that the steps keep (each is a cost the steps pay above this floor):
//   - no coroutines, no task per client, no ready queue: a callback per ready socket;
//   - no turn: each wake-up answers a whole 4 KiB read (up to 2,048 pipelined requests) while the
//     others wait, and a fib(40) stalls everyone (fib runs inline, there are no workers);
//   - no --max-clients, no spare descriptor, no pause when out of descriptors: accept fails, and
//     the listener, still readable, wakes the loop again and again until a descriptor frees;
//   - a reply the kernel cannot take at once waits in a buffer, and the socket is watched for
//     EPOLLOUT instead of read until it drains (so it holds at most the replies to one 4 KiB read);
//     a client that leaves with replies still unsent loses them.
// It speaks enough of docs/protocol.md for everything fib-bench sends: framing across reads, CRLF,
// an `error: ...` line for a bad one, `error: line too long` and close.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <vector>

#include "conversation.hpp"
#include "options.hpp"
#include "server.hpp"
#include "stop.hpp"

namespace {

struct Client {
    Client(fibs::Fd s, unsigned max_n) : sock(std::move(s)), talk(sock.get(), max_n) {}
    fibs::Fd sock;
    fibs::Conversation talk;  // the protocol's rules, as every step has them (common/conversation.hpp)
    bool waiting = false;     // for EPOLLOUT instead of EPOLLIN, until the replies drain
};

class Floor {
public:
    Floor(fibs::Fd listener, int stop_fd, const fibs::ServerOptions& opts)
        : listener_(std::move(listener)), stop_fd_(stop_fd), opts_(opts), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
        watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD);
        watch(stop_fd_, EPOLLIN, EPOLL_CTL_ADD);
    }

    void run() {
        std::array<epoll_event, 256> ready{};
        for (;;) {
            int n = ::epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::system_error(errno, std::generic_category(), "epoll_wait");
            for (int i = 0; i < n; ++i) {
                int fd = ready[static_cast<std::size_t>(i)].data.fd;
                if (fd == stop_fd_) return;
                if (fd == listener_.get()) {
                    accept_all();
                } else if (!serve(*clients_[static_cast<std::size_t>(fd)])) {
                    clients_[static_cast<std::size_t>(fd)].reset();  // closes it: epoll forgets it
                    fibs::log_closed(opts_);
                }
            }
        }
    }

private:
    void watch(int fd, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_.get(), op, fd, &ev) != 0) throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }

    void accept_all() {
        for (;;) {
            std::string peer;
            fibs::Fd sock = fibs::accept_client(listener_.get(), opts_.quiet ? nullptr : &peer, true);
            if (!sock) return;  // EAGAIN, or out of descriptors: the next wake-up tries again
            int fd = sock.get();
            if (clients_.size() <= static_cast<std::size_t>(fd)) clients_.resize(static_cast<std::size_t>(fd) + 1);
            watch(fd, EPOLLIN, EPOLL_CTL_ADD);
            clients_[static_cast<std::size_t>(fd)] = std::make_unique<Client>(std::move(sock), opts_.max_n);
            fibs::log_connection(opts_, peer);
        }
    }

    // One wake-up of a client: read what is there, answer every complete line, send. False when the
    // client is done (it left, reset, sent a line too long, or cannot take its replies).
    bool serve(Client& c) {
        std::string& out = c.talk.replies();
        if (out.empty()) {
            ssize_t n = ::recv(c.sock.get(), buf_.data(), buf_.size(), 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
            c.talk.heard({buf_.data(), static_cast<std::size_t>(std::max<ssize_t>(n, 0))});  // a reset ends it too
            while (auto req = c.talk.next()) c.talk.answer(*req);
        }
        while (!out.empty()) {
            ssize_t n = ::send(c.sock.get(), out.data(), out.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n < 0) return false;
            out.erase(0, static_cast<std::size_t>(n));
        }
        if (!c.talk.open()) return false;  // what could be sent was: a last reply before the close
        // Rare (a client that does not read): wait until the kernel takes the rest, reading nothing.
        bool waiting = !out.empty();
        if (waiting != c.waiting) watch(c.sock.get(), waiting ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
        c.waiting = waiting;
        return true;
    }

    fibs::Fd listener_;
    int stop_fd_;
    const fibs::ServerOptions& opts_;
    fibs::Fd epoll_;
    std::vector<std::unique_ptr<Client>> clients_;  // by descriptor
    std::array<char, 4096> buf_{};
};

}  // namespace

int main(int argc, char** argv) {
    fibs::ServerOptions opts;
    CLI::App app{"fib-floor: the least a fib server can do on this machine (a ruler for fib-bench, not a step)"};
    fibs::add_server_options(app, opts, "none: this ruler has no limit");
    CLI11_PARSE(app, argc, argv);

    try {
        int stop_fd = fibs::stop_on_signals_pipe();
        fibs::Fd sock = fibs::start_server(opts);
        fibs::set_nonblocking(sock.get());
        fibs::log_listening(sock.get());
        Floor(std::move(sock), stop_fd, opts).run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    fibs::log_always("Shutting down");
    return 0;
}
