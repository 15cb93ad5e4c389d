// How other threads hand work to a loop: a worker's result (and, with several loops, a new
// connection). Any thread may post a letter; an eventfd (a counter the kernel reports as readable)
// then wakes the loop, whose future_monitor task (main.cpp) waits on it like on any socket and
// runs the letters on the loop's own thread. The talk used a socketpair for the same wake-up.
#pragma once
#include <functional>
#include <mutex>
#include <vector>

#include "net.hpp"

namespace fibs::loop {

class Loop;

class Mailbox {
public:
    using Letter = std::function<void(Loop&)>;  // run on the loop's thread, with that loop

    Mailbox();  // throws std::system_error when no eventfd can be made
    // Thread-safe. Shared with the senders (std::shared_ptr): a worker whose loop has gone posts
    // into a mailbox nobody reads, never into freed memory.
    void post(Letter letter);
    void ring();                             // any thread: fd() readable, with or without a letter
    int fd() const { return event_.get(); }  // readable while letters wait
    // The loop's thread: every letter waiting, in a vector that the next take() reuses (so that
    // taking letters needs no memory); makes fd() unreadable again.
    std::vector<Letter>& take();

private:
    Fd event_;
    std::mutex mu_;
    std::vector<Letter> letters_;
    std::vector<Letter> taken_;  // the loop's: what take() returned last
};

}  // namespace fibs::loop
