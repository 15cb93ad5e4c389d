#include "acceptor.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "protocol.hpp"
#include "server.hpp"

namespace fibs {

namespace {
Fd open_spare() { return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }
}  // namespace

Acceptor::Acceptor(int listener, bool nonblocking) : listener_(listener), nonblocking_(nonblocking), spare_(open_spare()) {}

Fd Acceptor::accept(std::string* addr) {
    Fd client = accept_client(listener_, addr, nonblocking_);
    if (client || (errno != EMFILE && errno != ENFILE) || !spare_) return client;
    spare_.reset();  // room for exactly one more
    Fd refused = accept_client(listener_, nullptr, true);
    int err = refused ? EMFILE : errno;  // EAGAIN: nobody was waiting after all
    refuse(std::move(refused), "out of file descriptors");
    spare_ = open_spare();
    errno = err;
    return Fd();
}

void Acceptor::refuse(Fd client, std::string_view why) {
    if (said_.find(why) == std::string::npos) {
        said_ += why;
        log_always("refusing clients: " + std::string(why));
    }
    if (client) {
        [[maybe_unused]] ssize_t n =
            ::send(client.get(), protocol::kServerFull.data(), protocol::kServerFull.size(), MSG_NOSIGNAL);
    }
}

}  // namespace fibs
