#include "acceptor.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "protocol.hpp"

namespace fibs {

namespace {
Fd open_spare() { return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }
}  // namespace

Acceptor::Acceptor(int listener, bool nonblocking, RefusalLog* log)
    : listener_(listener), nonblocking_(nonblocking), spare_(open_spare()), log_(log != nullptr ? log : &own_) {}

Fd Acceptor::accept(std::string* addr) {
    Fd client = accept_client(listener_, addr, nonblocking_);
    if (client || (errno != EMFILE && errno != ENFILE)) return client;
    if (!spare_) {
        spare_ = open_spare();  // descriptors may have come back since the last try
        if (spare_) {           // then the client may be served, not refused
            client = accept_client(listener_, addr, nonblocking_);
            if (client || (errno != EMFILE && errno != ENFILE)) return client;
        }
    }
    if (!spare_) {
        log_->note("out of file descriptors, none spare: clients wait in the backlog");
        errno = ENFILE;
        return Fd();
    }
    spare_.reset();  // room for exactly one more
    Fd refused = accept_client(listener_, nullptr, true);
    int err = refused ? EMFILE : errno;  // EAGAIN: nobody was waiting after all
    refuse(std::move(refused), "out of file descriptors");
    spare_ = open_spare();
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
