#include "listener.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <system_error>

namespace fibs::loop {

Listener::Listener(Fd sock, Seats& seats, RefusalLog& refusals)
    : sock_(std::move(sock)),
      seats_(&seats),
      refusals_(&refusals),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!timer_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
}

std::optional<Client> Listener::accept() {
    std::uint64_t expired;  // a pause that is over: take its expiry, or its timer stays readable
    if (stuck_ && ::read(timer_.get(), &expired, sizeof expired) < 0) return std::nullopt;  // not over yet
    stuck_ = false;
    if (!acceptor_) acceptor_.emplace(sock_.get(), /*nonblocking=*/true, *refusals_);
    for (;;) {
        try {
            std::string addr;
            Fd sock = acceptor_->accept(&addr);
            if (!sock && errno == EMFILE) continue;  // that one was refused; there may be more
            stuck_ = !sock && errno == ENFILE;
            if (!sock) return std::nullopt;  // EAGAIN: nobody waits
            std::optional<Seat> seat = seats_->take();
            if (!seat) {
                acceptor_->refuse(std::move(sock), seats_->why_full());
                continue;
            }
            return Client(std::move(sock), std::move(*seat), std::move(addr));
        } catch (const std::bad_alloc&) {  // no memory for its address: that client is closed, not the server
            refusals_->note("out of memory");
        }
    }
}

int Listener::pause() {
    itimerspec in_10ms{};
    in_10ms.it_value.tv_nsec = 10'000'000;
    ::timerfd_settime(timer_.get(), 0, &in_10ms, nullptr);
    return timer_.get();
}

}  // namespace fibs::loop
