// Who gets in: not in the article, whose accept takes everyone. The listening socket and what a
// client must find before its task is made: a seat (--max-clients, or all the backend and the
// process can hold), a descriptor (when none is left the Acceptor refuses cleanly), and memory.
// A client that gets in is a Client: its socket and its seat, given back together when its
// handler's frame is freed, however the handler ends, even before it ran.
#pragma once
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "acceptor.hpp"
#include "net.hpp"
#include "server.hpp"

namespace fibs::loop {

// The clients served at once, by the whole server (every loop: Step 5). A Seat is one of them.
class Seats {
public:
    class Seat {
    public:
        Seat(Seat&& other) noexcept : seats_(std::exchange(other.seats_, nullptr)) {}
        ~Seat() {
            if (seats_ != nullptr) --seats_->taken_;
        }

    private:
        friend class Seats;
        explicit Seat(Seats* seats) : seats_(seats) {}
        Seats* seats_;
    };

    // `why_full`: what the log says when all are taken ("--max-clients reached").
    Seats(int max, std::string why_full) : max_(max), why_full_(std::move(why_full)) {}
    std::optional<Seat> take() {  // nothing when all are taken; a seat given back is free at once
        for (int now = taken_.load(); now < max_;) {
            if (taken_.compare_exchange_weak(now, now + 1)) return Seat(this);
        }
        return std::nullopt;
    }
    int taken() const { return taken_; }
    int max() const { return max_; }
    const std::string& why_full() const { return why_full_; }

private:
    std::atomic<int> taken_{0};
    const int max_;
    const std::string why_full_;
};
using Seat = Seats::Seat;

// A client that got in: its socket (a Client is an Fd), its seat, and its address for the log.
struct Client : Fd {
    Client(Fd sock, Seat s, std::string a) : Fd(std::move(sock)), seat(std::move(s)), addr(std::move(a)) {}
    Seat seat;
    std::string addr;
};

class Listener {
public:
    // A non-blocking listening socket. Makes the pause timer now: when it is needed, no
    // descriptor may be left to make one. Throws std::system_error.
    Listener(Fd sock, Seats& seats, RefusalLog& refusals);
    int fd() const { return sock_.get(); }
    // The next client waiting, let in; nothing when nobody waits any more, or when stuck(). Those
    // who cannot be served are refused here: told `error: server full`, closed, said once a reason.
    std::optional<Client> accept();
    // Out of descriptors with none spare to refuse with: the client waits in the backlog, and the
    // accept task waits on pause() instead of spinning on a listener that stays readable.
    bool stuck() const { return stuck_; }
    int pause();  // a timer's descriptor, readable 10 ms from now

private:
    Fd sock_;
    Seats* seats_;
    RefusalLog* refusals_;
    // Made at the first accept, not at start-up: the failpoint that holds every descriptor from
    // start-up on (hold-descriptors-ms, faults.hpp) then leaves it none spare, the case it tests.
    std::optional<Acceptor> acceptor_;
    Fd timer_;
    bool stuck_ = false;
};

// Tells a client `error: server full` and closes it; `why` goes to the log once.
inline void refuse(Client client, std::string_view why, RefusalLog& log) { fibs::refuse(std::move(client), why, log); }

}  // namespace fibs::loop
