#include "acceptor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "protocol.hpp"

namespace fibs {

namespace {
Fd open_spare() { return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }
}  // namespace

Acceptor::Acceptor(int listener, bool nonblocking, RefusalLog& log)
    : listener_(listener), nonblocking_(nonblocking), spare_(open_spare()), log_(&log) {}

Fd Acceptor::accept(std::string* addr) {
    Fd client = accept_client(listener_, addr, nonblocking_);
    if (client || (errno != EMFILE && errno != ENFILE)) return client;
    if (!spare_) spare_ = open_spare();  // descriptors may have come back since the last try
    if (!spare_) {
        log_->note("out of file descriptors, none spare: clients wait in the backlog");
        errno = ENFILE;
        return Fd();
    }
    spare_.reset();  // room for exactly one more
    // Wait for a client here (a blocking server) or not at all: the kernel says EMFILE before it
    // looks whether anyone waits, and whoever comes may find descriptors back by then.
    pollfd waiting{listener_, POLLIN, 0};
    int ready = ::poll(&waiting, 1, nonblocking_ ? 0 : -1);
    int err = ready < 0 ? errno : EAGAIN;  // EINTR: perhaps Ctrl-C; EAGAIN: nobody waits
    if (ready == 1) {
        client = accept_client(listener_, addr, nonblocking_);
        err = client ? EMFILE : errno;
    }
    spare_ = open_spare();
    if (client && spare_) return client;  // room for both: served, not refused
    if (client) {
        refuse(std::move(client), "out of file descriptors");
        spare_ = open_spare();
    }
    errno = err;
    return Fd();
}

void refuse(Fd client, std::string_view why, RefusalLog& log) {
    log.note(why);
    if (client) {
        [[maybe_unused]] ssize_t n =
            ::send(client.get(), protocol::kServerFull.data(), protocol::kServerFull.size(), MSG_NOSIGNAL);
    }
}

}  // namespace fibs
