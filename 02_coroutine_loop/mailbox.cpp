#include "mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace fibs::loop {

Mailbox::Mailbox() : event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!event_) throw std::system_error(errno, std::generic_category(), "eventfd");
}

void Mailbox::post(Letter letter) {
    bool first;
    {
        std::lock_guard lock(mu_);
        first = letters_.empty();
        letters_.push_back(std::move(letter));
    }
    if (first) ring();  // else the loop has been woken already and has not taken the letters yet
}

void Mailbox::ring() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
}

std::vector<Mailbox::Letter>& Mailbox::take() {
    std::uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(event_.get(), &count, sizeof count);  // not readable until the next post
    taken_.clear();  // the senders post into its room from now on
    std::lock_guard lock(mu_);
    letters_.swap(taken_);
    return taken_;
}

}  // namespace fibs::loop
